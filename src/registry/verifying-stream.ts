import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { DigestReleaseError } from '../errors';
import { Digest } from '../reference/digest';

// A pass-through stream that hashes what flows and, at the end, refuses bytes that do not hash to
// the digest (or do not add up to the size) they were asked for. The check costs one hash update
// per chunk; the last batch is held back until the hash is checked, so a mismatch errors the stream
// before its last byte is passed on and whatever reads it (an upload) sees a failed, short body,
// never a complete one. A Node Transform, not a web TransformStream: chunks pass as they are (no
// copy) and Node's pipes apply backpressure, so a copy holds a few chunks per blob, not megabytes.

/**
 * Bytes are passed on in batches of this size rather than as the 16 KiB TLS records they arrive
 * in: one hash update and one write (one TLS record run, one system call) per batch instead of
 * sixteen was a third of a copy's CPU time.
 */
const BATCH_BYTES = 256 * 1024;

export function verifyingStream(digest: Digest, size: number | undefined, where: string): Transform {
  const hash = createHash('sha256');
  let seen = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let held: Buffer | undefined;
  /** Hashes what is pending as one batch and holds it back; returns the batch held before. */
  const batch = (): Buffer | undefined => {
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    hash.update(bytes);
    const previous = held;
    held = bytes;
    return previous;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.byteLength;
      if (size !== undefined && seen > size) {
        callback(new DigestReleaseError('DIGEST_MISMATCH', `${where} sent more than the ${size} bytes its descriptor declares; the blob is not the one asked for, and nothing of it is written.`));
        return;
      }
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      callback(null, pendingBytes >= BATCH_BYTES ? batch() : undefined);
    },
    flush(callback) {
      if (pendingBytes > 0) {
        const previous = batch();
        if (previous) this.push(previous);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (size !== undefined && seen !== size) {
        callback(new DigestReleaseError('DIGEST_MISMATCH', `${where} sent ${seen} bytes where its descriptor declares ${size}; nothing of it is written.`));
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
