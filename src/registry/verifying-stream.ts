import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { DigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';

// A pass-through stream that hashes what flows and, at the end, refuses bytes that do not hash to
// the digest (or do not add up to the size) they were asked for. Each chunk is hashed as it arrives
// and passed on as it is, without copying, one chunk behind: the last chunk is held back until the
// hash is checked, so a mismatch errors the stream before its last byte is passed on and whatever
// reads it (an upload) sees a failed, short body, never a complete one. A Node Transform, not a web
// TransformStream: chunks pass as they are and Node's pipes apply backpressure, so a copy holds a
// few chunks per blob, not megabytes. Writing in fewer, larger system calls is the upload's
// business (http/request.ts writes a streamed body in corked windows), not a copy made here.

export function verifyingStream(digest: Digest, size: number | undefined, where: string): Transform {
  const hash = createHash('sha256');
  let seen = 0;
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.byteLength;
      if (size !== undefined && seen > size) {
        callback(
          new DigestReleaseError(
            'DIGEST_MISMATCH',
            `${where} sent more than the ${size} bytes its descriptor declares; the blob is not the one asked for, and nothing of it is written.`,
          ),
        );
        return;
      }
      hash.update(chunk);
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (size !== undefined && seen !== size) {
        callback(
          new DigestReleaseError(
            'DIGEST_MISMATCH',
            `${where} sent ${seen} bytes where its descriptor declares ${size}; nothing of it is written.`,
          ),
        );
        return;
      }
      if (actual !== digest) {
        callback(
          new DigestReleaseError(
            'DIGEST_MISMATCH',
            `${where} sent bytes that hash to ${actual}, not ${digest}. The source registry (or something between it and the agent) serves corrupt or substituted content; nothing of it is written. Do not promote this image until it is explained.`,
          ),
        );
        return;
      }
      callback(null, held);
    },
  });
}
