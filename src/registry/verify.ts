import { createHash } from 'node:crypto';
import { DigestReleaseError } from '../errors';
import { Digest } from '../reference/digest';

// A pass-through stream that hashes what flows and, at the end, refuses bytes that do not hash to
// the digest (or do not add up to the size) they were asked for. Nothing is held back: the check
// costs one hash update per chunk, and a mismatch errors the stream before it closes, so whatever
// reads it (an upload) sees a failed body, never a complete one.

export function verifyingStream(digest: Digest, size: number | undefined, where: string): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash('sha256');
  let seen = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (size !== undefined && seen > size) {
        controller.error(
          new DigestReleaseError('DIGEST_MISMATCH', `${where} sent more than the ${size} bytes its descriptor declares; the blob is not the one asked for, and nothing of it is written.`),
        );
        return;
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush(controller) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (size !== undefined && seen !== size) {
        controller.error(new DigestReleaseError('DIGEST_MISMATCH', `${where} sent ${seen} bytes where its descriptor declares ${size}; nothing of it is written.`));
        return;
      }
      if (actual !== digest) {
        controller.error(
          new DigestReleaseError(
            'DIGEST_MISMATCH',
            `${where} sent bytes that hash to ${actual}, not ${digest}. The source registry (or something between it and the agent) serves corrupt or substituted content; nothing of it is written. Do not promote this image until it is explained.`,
          ),
        );
      }
    },
  });
}
