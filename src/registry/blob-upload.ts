import { Readable } from 'node:stream';
import { DigestReleaseError, isDigestReleaseError, withMore } from '../errors';
import { backoffDelay, sleep } from '../http/retry';
import { stallBehind } from '../http/stall';
import type { HttpResponse } from '../http/response';
import { StallBudget } from '../http/transport';
import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import { blobError, cancelUpload, where } from './blobs';
import type { RegistryClient } from './client';
import { checkClaimedDigest } from './manifests';
import { pushScope } from './sign-in';

// Uploading a blob: monolithic, or in PATCH chunks where the registry asks for them, started over
// from a newly opened source when an attempt fails (a bounded number of times).

export type BlobBody = Readable | Uint8Array<ArrayBuffer>;
/** Opens the blob's bytes; called again when an upload has to start over. A read spends its stalls from `stalls`. */
export type BlobOpener = (stalls: StallBudget) => BlobBody | Promise<BlobBody>;

export interface UploadOptions {
  /** Upload in PATCH chunks of this many bytes even if the registry does not ask for it. */
  readonly chunkSize?: number;
  /** Upload attempts in all, each from a new upload session and a newly opened source. */
  readonly attempts?: number;
  /** Called when an attempt failed and the upload starts over (before the pause). */
  readonly onRetry?: (attempt: number, err: unknown) => void;
  /** The pause before the second attempt; it doubles before each further one (bounded). */
  readonly retryBackoffMs?: number;
  /**
   * The stalls of the copy this upload is part of, shared with the reads of its source (the
   * opener's): the first stall anywhere starts the upload over, the second fails it.
   */
  readonly stalls?: StallBudget;
}

/** Chunks when the registry asks for them but names no minimum. */
const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** A source or target that failed an upload gets a moment before the next attempt, not none. */
const DEFAULT_RETRY_BACKOFF_MS = 1000;
/** Failures that another attempt cannot mend. */
const FINAL_CODES = new Set([
  'DIGEST_MISMATCH',
  'UNAUTHORIZED',
  'DENIED',
  'NAME_UNKNOWN',
  'BLOB_UNKNOWN',
  'INVALID_DIGEST',
  'INVALID_INPUT',
]);

/**
 * Uploads a blob: POST for an upload session, then one streamed PUT, or PATCH chunks and a closing
 * PUT when the registry names a minimum chunk size (OCI-Chunk-Min-Length) or options ask for it.
 * The registry checks the digest when the upload closes. A failed attempt is cancelled and the
 * next starts from a new session and a newly opened source.
 */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  size: number,
  open: BlobOpener,
  options: UploadOptions = {},
): Promise<void> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const stalls = options.stalls ?? new StallBudget();
  for (let attempt = 1; ; attempt++) {
    try {
      await uploadOnce(client, repository, digest, size, open, options, stalls);
      return;
    } catch (err) {
      if (isDigestReleaseError(err) && FINAL_CODES.has(err.code)) throw err;
      // A stall (of the source or the target) spends from the copy's budget; after the second,
      // nothing more is tried, whatever failed.
      const stalled = stallBehind(err) !== undefined || isDigestReleaseError(err, 'STALLED');
      const again = attempt < attempts && !stalls.exhausted && (!stalled || stalls.spend());
      if (!again) {
        const tried =
          attempt > 1
            ? ` The upload of this blob to ${client.registry}/${repository} was tried ${attempt} times${stalls.exhausted ? ', and not again after a second stall' : ''}.`
            : '';
        // The last attempt's error says what failed and where; the count says it was no one-off.
        if (isDigestReleaseError(err)) throw withMore(err, tried.trim());
        throw new DigestReleaseError(
          'BLOB_UPLOAD',
          `Uploading ${where(client, repository, digest)} failed: ${errorText(err)}.${tried}`,
          { cause: err },
        );
      }
      options.onRetry?.(attempt, err);
      await sleep(backoffDelay(options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS, attempt));
    }
  }
}

async function uploadOnce(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  size: number,
  open: BlobOpener,
  options: UploadOptions,
  stalls: StallBudget,
): Promise<void> {
  const started = await client.request({
    method: 'POST',
    path: `/v2/${repository}/blobs/uploads/`,
    scope: pushScope(repository),
    stalls,
  });
  const first = started.headers.get('location');
  // The error body is read before anything is dropped: it holds the registry's reason (DENIED, a quota).
  if (started.status !== 202 || !first) throw await blobError(client, started, repository, digest, 'start');
  await started.body?.cancel();
  const minimum = Number(started.headers.get('oci-chunk-min-length') ?? '0');
  const chunkSize =
    options.chunkSize ??
    (Number.isSafeInteger(minimum) && minimum > 0 ? Math.max(minimum, DEFAULT_CHUNK_BYTES) : undefined);

  let location = first;
  let body: BlobBody | undefined;
  try {
    body = await open(stalls);
    if (body instanceof Uint8Array) {
      if (body.byteLength !== size || sha256Of(body) !== digest) {
        throw new DigestReleaseError(
          'DIGEST_MISMATCH',
          `The bytes given for ${where(client, repository, digest)} are ${body.byteLength} bytes hashing to ${sha256Of(body)}; nothing was uploaded.`,
        );
      }
    }
    let closing: HttpResponse;
    if (chunkSize === undefined) {
      closing = await client.request({
        method: 'PUT',
        path: withDigest(client, location, digest),
        scope: pushScope(repository),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
        body,
        stalls,
        completesUpload: size,
      });
    } else {
      location = await patchChunks(client, repository, digest, location, body, chunkSize, stalls);
      closing = await client.request({
        method: 'PUT',
        path: withDigest(client, location, digest),
        scope: pushScope(repository),
        headers: { 'Content-Length': '0' },
        stalls,
        completesUpload: size,
      });
    }
    if (closing.status !== 201) throw await blobError(client, closing, repository, digest, 'close');
    await closing.body?.cancel();
    checkClaimedDigest(closing, {
      expected: digest,
      mismatch: (claimed) =>
        `The ${client.name} stored an upload of ${where(client, repository, digest)} as ${claimed}; it rewrote or substituted the bytes, so it cannot hold this digest.`,
    });
  } catch (err) {
    if (body instanceof Readable) body.destroy();
    // A target that stalled or dropped the connection would keep a cancel waiting as long again;
    // its upload session expires on its own.
    if (!(isDigestReleaseError(err) && err.host !== undefined && err.host === new URL(client.urlOf(location)).host))
      await cancelUpload(client, repository, location);
    throw err;
  }
}

/** PATCHes the body in chunks of `chunkSize`; returns the location to close the upload at. */
async function patchChunks(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  location: string,
  body: BlobBody,
  chunkSize: number,
  stalls: StallBudget,
): Promise<string> {
  let offset = 0;
  let current = location;
  for await (const chunk of chunksOf(body, chunkSize)) {
    const response = await client.request({
      method: 'PATCH',
      path: current,
      scope: pushScope(repository),
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(chunk.byteLength),
        'Content-Range': `${offset}-${offset + chunk.byteLength - 1}`,
      },
      body: chunk,
      stalls,
    });
    const next = response.headers.get('location');
    if (response.status !== 202 || !next) throw await blobError(client, response, repository, digest, 'chunk');
    await response.body?.cancel();
    offset += chunk.byteLength;
    current = next;
  }
  return current;
}

/** Re-slices a body into chunks of exactly `size` bytes (the last may be shorter); holds one chunk. */
async function* chunksOf(body: BlobBody, size: number): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  if (body instanceof Uint8Array) {
    for (let start = 0; start < body.byteLength; start += size) yield body.slice(start, start + size);
    return;
  }
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (const value of pieces(body)) {
    let from = 0;
    while (from < value.byteLength) {
      const take = Math.min(size - filled, value.byteLength - from);
      buffer.set(value.subarray(from, from + take), filled);
      filled += take;
      from += take;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.slice(0, filled);
}

async function* pieces(body: Readable): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) yield chunk as Buffer;
}

function withDigest(client: RegistryClient, location: string, digest: Digest): string {
  const url = new URL(client.urlOf(location));
  url.searchParams.set('digest', digest);
  return url.toString();
}

function errorText(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  let current: unknown = err instanceof Error ? err.cause : undefined;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    message += `: ${current.message}`;
    current = current.cause;
  }
  return message;
}
