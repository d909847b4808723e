import type { Readable } from 'node:stream';
import { isDigestReleaseError } from '../errors';
import { backoffDelay, sleep } from '../http/retry';
import type { Digest } from '../reference/digest';
import { headBlob, mountBlob, openBlob } from '../registry/blobs';
import { uploadBlob } from '../registry/blob-upload';
import type { RegistryClient } from '../registry/client';
import type { Descriptor } from '../registry/manifest-parse';
import { StallBudget } from '../http/transport';

// One blob from the source repository to the target: skip it when the target has it, mount it when
// both are on one registry, else stream it through (checked against its digest on the way).
//
// The source's GET of a large blob is sent together with the target's POST that opens the upload
// session, not after its answer.

/** Reads of blobs above this size are opened together with the target's upload session (see copyBlob). */
const EARLY_READ_BYTES = 256 * 1024;

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

export interface BlobEnds {
  readonly source: RegistryClient;
  readonly sourceRepository: string;
  readonly target: RegistryClient;
  readonly targetRepository: string;
}

export function sameRegistry(ends: BlobEnds): boolean {
  return ends.source.registry.toLowerCase() === ends.target.registry.toLowerCase();
}

export async function copyBlob(
  ends: BlobEnds,
  blob: Descriptor,
  onRetry?: (digest: Digest, attempt: number, err: unknown) => void,
): Promise<BlobOutcome> {
  const present = await headBlob(ends.target, ends.targetRepository, blob.digest);
  if (present && present.size === blob.size) return 'present';
  if (sameRegistry(ends) && ends.sourceRepository !== ends.targetRepository) {
    if (await mountBlob(ends.target, ends.targetRepository, blob.digest, ends.sourceRepository)) return 'mounted';
  }
  // One stall budget for the whole copy: the target's requests and every read of the source.
  const stalls = new StallBudget();
  const read = () => openBlob(ends.source, ends.sourceRepository, blob.digest, blob.size, { stalls });
  // The first read of a blob larger than EARLY_READ_BYTES is opened now, while uploadBlob asks the
  // target for an upload session; its bytes wait (backpressure) until the upload takes them. A
  // smaller blob would arrive whole and be checked before anything takes it, with nobody to hear
  // a mismatch; its read is opened when the upload asks. A read the upload did not take (the
  // session was refused, or the attempt failed before its body) is closed; a later attempt opens
  // its own.
  let failedEarly: { err: unknown } | undefined;
  const heard = (stream: Readable): Readable => stream.on('error', (err: unknown) => (failedEarly ??= { err }));
  let early: Promise<Readable> | undefined = blob.size > EARLY_READ_BYTES ? read().then(heard) : undefined;
  early?.catch(() => undefined);
  const dropEarly = () => {
    void early?.then(
      (stream) => stream.destroy(),
      () => undefined,
    );
    early = undefined;
  };
  try {
    await uploadBlob(
      ends.target,
      ends.targetRepository,
      blob.digest,
      blob.size,
      async () => {
        const opened = early;
        early = undefined;
        const stream = opened ? await opened : undefined;
        // A read that failed while it waited is reported as the read's failure, not handed on.
        if (stream !== undefined && failedEarly !== undefined) throw failedEarly.err;
        return stream ?? read();
      },
      {
        stalls,
        onRetry: (attempt, err) => {
          dropEarly();
          onRetry?.(blob.digest, attempt, err);
        },
      },
    );
  } finally {
    dropEarly();
  }
  return 'uploaded';
}

/** Attempts at a manifest the target says names a blob it lacks, the blobs checked again in between. */
const MANIFEST_BLOB_ATTEMPTS = 3;

/**
 * A manifest write (by digest or under a tag), again when the target answers that a blob is unknown
 * though it was just copied: distribution rewrites a repository's link to a blob in place when two
 * runs copy the same blob at once, and a manifest written in that moment finds no blob. Every blob
 * is checked again (copied if really missing) before the next attempt.
 */
export async function againIfBlobUnknown<T>(write: () => Promise<T>, recheckBlobs: () => Promise<void>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isDigestReleaseError(err, 'BLOB_UNKNOWN') || attempt >= MANIFEST_BLOB_ATTEMPTS) throw err;
      await sleep(backoffDelay(200, attempt));
      await recheckBlobs();
    }
  }
}
