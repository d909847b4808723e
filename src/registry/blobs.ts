import { Readable, finished } from 'node:stream';
import { DigestReleaseError, isDigestReleaseError } from '../errors';
import { Digest, sha256Of } from '../reference/digest';
import { checkClaimedDigest } from './claimed';
import { RegistryClient, pullScope, pushScope } from './client';
import { describeErrors, readErrorBody } from './errorbody';
import { HttpResponse } from './http';
import { backoffDelay, sleep } from './transport';
import { verifyingStream } from './verify';

// Blobs: HEAD, a verified streaming GET, upload (monolithic, or chunked where the registry asks
// for it) and cross-repository mount. Every function does one request flow and says what it did.

export type BlobBody = Readable | Uint8Array<ArrayBuffer>;
/** Opens the blob's bytes; called again when an upload has to start over. */
export type BlobOpener = () => BlobBody | Promise<BlobBody>;

export interface UploadOptions {
  /** Upload in PATCH chunks of this many bytes even if the registry does not ask for it. */
  readonly chunkSize?: number;
  /** Upload attempts in all, each from a new upload session and a newly opened source. */
  readonly attempts?: number;
  /** Called when an attempt failed and the upload starts over (before the pause). */
  readonly onRetry?: (attempt: number, err: unknown) => void;
  /** The pause before the second attempt; it doubles before each further one (bounded). */
  readonly retryBackoffMs?: number;
}

/** Chunks when the registry asks for them but names no minimum. */
const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** A source or target that failed an upload gets a moment before the next attempt, not none. */
const DEFAULT_RETRY_BACKOFF_MS = 1000;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Redirects followed for one blob read; storage needs one or two, more is a misconfiguration. */
const MAX_REDIRECTS = 5;
/** Failures that another attempt cannot mend. */
const FINAL_CODES = new Set(['DIGEST_MISMATCH', 'UNAUTHORIZED', 'DENIED', 'NAME_UNKNOWN', 'BLOB_UNKNOWN', 'INVALID_DIGEST', 'INVALID_INPUT']);

function blobPath(repository: string, digest: Digest): string {
  return `/v2/${repository}/blobs/${digest}`;
}

function where(client: RegistryClient, repository: string, digest: Digest): string {
  return `the blob ${digest} in ${client.registry}/${repository}`;
}

/** The size of a blob the repository has, or undefined when it has not. */
export async function headBlob(client: RegistryClient, repository: string, digest: Digest): Promise<{ size: number } | undefined> {
  const first = await client.request({ method: 'HEAD', path: blobPath(repository, digest), scope: pullScope(repository) });
  const response = await followRedirects(client, 'HEAD', first, repository, digest);
  if (response.status === 404) return undefined;
  if (!response.ok) throw await blobError(client, response, repository, digest, 'HEAD');
  checkClaimedDigest(response, {
    expected: digest,
    mismatch: (claimed) => `The registry ${client.registry} answered HEAD for ${where(client, repository, digest)} with the digest ${claimed}.`,
  });
  const size = Number(response.headers.get('content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered HEAD for ${where(client, repository, digest)} without a usable Content-Length.`);
  }
  return { size };
}

export interface OpenBlobOptions {
  /** What the registry read from is called in errors: "registry" unless told ("source registry"). */
  readonly peer?: string;
}

/**
 * The blob's bytes as a Node stream that is checked while it flows: it errors with DIGEST_MISMATCH
 * at the end when the bytes do not hash to `digest` (or exceed or fall short of `size`, when given).
 * Redirects to storage are followed (a few, in a chain) without the registry's Authorization header.
 * Node streams, not web streams: a copy pipes it into an upload with backpressure and no extra
 * copy, and the bundle needs no global that an older Node the agent may fall back to lacks.
 */
export async function openBlob(client: RegistryClient, repository: string, digest: Digest, size?: number, options: OpenBlobOptions = {}): Promise<Readable> {
  const first = await client.request({ method: 'GET', path: blobPath(repository, digest), scope: pullScope(repository) });
  const response = await followRedirects(client, 'GET', first, repository, digest);
  if (!response.ok || !response.body) throw await blobError(client, response, repository, digest, 'GET');
  const peer = options.peer ?? 'registry';
  const download = response.stream();
  const check = verifyingStream(digest, size, `The ${peer} ${client.registry}, asked for ${where(client, repository, digest)},`);
  let received = 0;
  // A download that fails midway errors the check with an error that names this registry, not
  // whatever the check is piped into: an upload it aborts would otherwise report the socket's
  // error as its own (a reset "reaching" the target). A check destroyed by its reader ends the download.
  finished(download, (err) => {
    if (err) check.destroy(droppedWhileSending(peer, client, repository, digest, received, size, err));
  });
  check.once('close', () => {
    if (!download.readableEnded) download.destroy();
  });
  download.pipe(check);
  download.on('data', (chunk: Buffer) => (received += chunk.byteLength));
  return check;
}

/**
 * A small blob (a statement, a record) read whole into memory, verified as openBlob verifies it.
 * More than `maxBytes`, declared or received, is not read: `tooLarge` says what that means here.
 */
export async function readSmallBlob(
  client: RegistryClient,
  repository: string,
  blob: { readonly digest: Digest; readonly size: number },
  maxBytes: number,
  tooLarge: () => DigestReleaseError,
): Promise<Uint8Array> {
  if (blob.size > maxBytes) throw tooLarge();
  const stream = await openBlob(client, repository, blob.digest, blob.size);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).byteLength;
    if (total > maxBytes) {
      stream.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Follows the registry's redirects to storage, a chain of a few at most (a CDN in front of a
 * bucket redirects again). No hop gets the registry's credentials: each URL carries its own
 * grant. A Location is resolved against the URL that sent it, not the registry.
 */
async function followRedirects(client: RegistryClient, method: 'GET' | 'HEAD', first: HttpResponse, repository: string, digest: Digest): Promise<HttpResponse> {
  let response = first;
  let url = client.urlOf(blobPath(repository, digest));
  const visited = new Set([url]);
  for (let hops = 0; REDIRECTS.has(response.status); hops++) {
    const location = response.headers.get('location');
    if (!location) return response;
    await response.body?.cancel();
    const next = new URL(location, url).toString();
    if (visited.has(next)) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The registry ${client.registry} answered ${method} for ${where(client, repository, digest)} with redirects that loop (back to ${new URL(next).origin}${new URL(next).pathname} after ${hops + 1}). Check the registry's storage configuration.`,
        { status: response.status },
      );
    }
    if (hops >= MAX_REDIRECTS) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The registry ${client.registry} answered ${method} for ${where(client, repository, digest)} with more than ${MAX_REDIRECTS} redirects in a chain; they were not followed further. Check the registry's storage configuration.`,
        { status: response.status },
      );
    }
    visited.add(next);
    url = next;
    response = await client.follow(method, next);
  }
  return response;
}

function droppedWhileSending(peer: string, client: RegistryClient, repository: string, digest: Digest, received: number, size: number | undefined, err: Error): DigestReleaseError {
  const code = (err as { code?: unknown }).code;
  const why = typeof code === 'string' ? code : err.message;
  const of = size === undefined ? '' : ` of ${size}`;
  return new DigestReleaseError(
    'UNREACHABLE',
    `The ${peer} ${client.registry} dropped the connection while sending ${where(client, repository, digest)}, after ${received}${of} bytes (${why}). ` +
      `Nothing of the blob is kept; if it keeps happening, check the network between the agent and ${client.registry}.`,
    { cause: err },
  );
}

/**
 * Mounts a blob from another repository of the same registry. True when mounted; false when the
 * registry declined (it may not allow the mount, or lack the blob there) and opened an upload
 * instead, which is cancelled here: the caller uploads.
 */
export async function mountBlob(client: RegistryClient, repository: string, digest: Digest, fromRepository: string): Promise<boolean> {
  const query = new URLSearchParams({ mount: digest, from: fromRepository });
  const response = await client.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/?${query.toString()}`, scope: pushScope(repository) });
  if (response.status === 201) {
    await response.body?.cancel();
    return true;
  }
  if (response.status === 202) {
    await response.body?.cancel();
    const location = response.headers.get('location');
    if (location) await cancelUpload(client, repository, location);
    return false;
  }
  throw await blobError(client, response, repository, digest, 'mount');
}

/**
 * Uploads a blob: POST for an upload session, then one streamed PUT, or PATCH chunks and a closing
 * PUT when the registry names a minimum chunk size (OCI-Chunk-Min-Length) or options ask for it.
 * The registry checks the digest when the upload closes. A failed attempt is cancelled and the
 * next starts from a new session and a newly opened source.
 */
export async function uploadBlob(client: RegistryClient, repository: string, digest: Digest, size: number, open: BlobOpener, options: UploadOptions = {}): Promise<void> {
  const attempts = Math.max(1, options.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      await uploadOnce(client, repository, digest, size, open, options);
      return;
    } catch (err) {
      if (isDigestReleaseError(err) && FINAL_CODES.has(err.code)) throw err;
      if (attempt >= attempts) {
        if (isDigestReleaseError(err)) {
          // The last attempt's error says what failed and where; the count says it was no one-off.
          throw new DigestReleaseError(err.code, `${err.message} Gave up after ${attempt} attempts to upload it to ${client.registry}/${repository}.`, {
            ...(err.status === undefined ? {} : { status: err.status }),
            cause: err,
          });
        }
        throw new DigestReleaseError('BLOB_UPLOAD', `Uploading ${where(client, repository, digest)} failed after ${attempt} attempts: ${errorText(err)}.`, { cause: err });
      }
      options.onRetry?.(attempt, err);
      await sleep(backoffDelay(options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS, attempt));
    }
  }
}

async function uploadOnce(client: RegistryClient, repository: string, digest: Digest, size: number, open: BlobOpener, options: UploadOptions): Promise<void> {
  const started = await client.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/`, scope: pushScope(repository) });
  const first = started.headers.get('location');
  // The error body is read before anything is dropped: it holds the registry's reason (DENIED, a quota).
  if (started.status !== 202 || !first) throw await blobError(client, started, repository, digest, 'start');
  await started.body?.cancel();
  const minimum = Number(started.headers.get('oci-chunk-min-length') ?? '0');
  const chunkSize = options.chunkSize ?? (Number.isSafeInteger(minimum) && minimum > 0 ? Math.max(minimum, DEFAULT_CHUNK_BYTES) : undefined);

  let location = first;
  let body: BlobBody | undefined;
  try {
    body = await open();
    if (body instanceof Uint8Array) {
      if (body.byteLength !== size || sha256Of(body) !== digest) {
        throw new DigestReleaseError('DIGEST_MISMATCH', `The bytes given for ${where(client, repository, digest)} are ${body.byteLength} bytes hashing to ${sha256Of(body)}; nothing was uploaded.`);
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
      });
    } else {
      location = await patchChunks(client, repository, digest, location, body, chunkSize);
      closing = await client.request({ method: 'PUT', path: withDigest(client, location, digest), scope: pushScope(repository), headers: { 'Content-Length': '0' } });
    }
    if (closing.status !== 201) throw await blobError(client, closing, repository, digest, 'close');
    await closing.body?.cancel();
    checkClaimedDigest(closing, {
      expected: digest,
      mismatch: (claimed) => `The registry ${client.registry} stored an upload of ${where(client, repository, digest)} as ${claimed}.`,
    });
  } catch (err) {
    if (body instanceof Readable) body.destroy();
    await cancelUpload(client, repository, location);
    throw err;
  }
}

/** PATCHes the body in chunks of `chunkSize`; returns the location to close the upload at. */
async function patchChunks(client: RegistryClient, repository: string, digest: Digest, location: string, body: BlobBody, chunkSize: number): Promise<string> {
  let offset = 0;
  let current = location;
  for await (const chunk of chunksOf(body, chunkSize)) {
    const response = await client.request({
      method: 'PATCH',
      path: current,
      scope: pushScope(repository),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(chunk.byteLength), 'Content-Range': `${offset}-${offset + chunk.byteLength - 1}` },
      body: chunk,
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

/** Best effort: an abandoned upload session is only clutter, which the registry expires anyway. */
async function cancelUpload(client: RegistryClient, repository: string, location: string): Promise<void> {
  try {
    const response = await client.request({ method: 'DELETE', path: location, scope: pushScope(repository) });
    await response.body?.cancel();
  } catch {
    // nothing to do: the session expires on the registry
  }
}

/** What was asked of the registry, as a gerund for "denied …" and as a verb for "asked to …". */
type BlobAction = 'HEAD' | 'GET' | 'mount' | 'start' | 'close' | 'chunk';

const ACTIONS: Record<BlobAction, { readonly doing: string; readonly todo: string; readonly needs: 'pull from' | 'push to' }> = {
  HEAD: { doing: 'looking up', todo: 'look up', needs: 'pull from' },
  GET: { doing: 'reading', todo: 'read', needs: 'pull from' },
  mount: { doing: 'mounting', todo: 'mount', needs: 'push to' },
  start: { doing: 'starting an upload of', todo: 'start an upload of', needs: 'push to' },
  close: { doing: 'completing the upload of', todo: 'complete the upload of', needs: 'push to' },
  chunk: { doing: 'uploading a chunk of', todo: 'upload a chunk of', needs: 'push to' },
};

async function blobError(client: RegistryClient, response: HttpResponse, repository: string, digest: Digest, action: BlobAction): Promise<DigestReleaseError> {
  const status = response.status;
  const entries = response.body ? await readErrorBody(response) : [];
  const detail = describeErrors(entries);
  const suffix = detail ? ` (${detail})` : '';
  const what = where(client, repository, digest);
  const { doing, todo, needs } = ACTIONS[action];
  if (status === 403) return new DigestReleaseError('DENIED', `The registry ${client.registry} denied ${doing} ${what}${suffix}. Check that the credentials may ${needs} ${repository}.`, { status });
  if (status === 404 && entries.some((e) => e.code === 'NAME_UNKNOWN')) {
    return new DigestReleaseError('NAME_UNKNOWN', `The repository ${client.registry}/${repository} does not exist${suffix}.`, { status });
  }
  if (status === 404 && (action === 'GET' || action === 'HEAD')) {
    return new DigestReleaseError('BLOB_UNKNOWN', `The registry ${client.registry} has no ${what}${suffix}, though a manifest there names it. The source image is incomplete; push it again.`, { status });
  }
  if (status === 400 && entries.some((e) => e.code === 'DIGEST_INVALID')) {
    return new DigestReleaseError('DIGEST_MISMATCH', `The registry ${client.registry} refused ${what}: the bytes uploaded do not hash to the digest${suffix}.`, { status });
  }
  return new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered ${status} when asked to ${todo} ${what}${suffix}.`, { status });
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
