import { Readable, finished } from 'node:stream';
import { DigestReleaseError, isDigestReleaseError, withMore } from '../errors';
import { stallBehind } from '../http/stall';
import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import { checkClaimedDigest } from './manifests';
import type { RegistryClient } from './client';
import { pullScope, pushScope } from './sign-in';
import { answerCode, describeErrors, readErrorBody, unexpectedAnswer } from './error-answers';
import type { HttpResponse } from '../http/request';
import { StallBudget } from '../http/transport';
import { backoffDelay, sleep } from '../http/retry';
import { lostAnswer } from '../http/failures';
import { verifyingStream } from './verifying-stream';

// Blobs: HEAD, a verified streaming GET, upload (monolithic, or chunked where the registry asks
// for it) and cross-repository mount. Every function does one request flow and says what it did.

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

function blobPath(repository: string, digest: Digest): string {
  return `/v2/${repository}/blobs/${digest}`;
}

function where(client: RegistryClient, repository: string, digest: Digest): string {
  return `the blob ${digest} in ${client.registry}/${repository}`;
}

/** The size of a blob the repository has, or undefined when it has not. */
export async function headBlob(
  client: RegistryClient,
  repository: string,
  digest: Digest,
): Promise<{ size: number } | undefined> {
  const response = await client.requestFollowing(
    { method: 'HEAD', path: blobPath(repository, digest), scope: pullScope(repository) },
    where(client, repository, digest),
  );
  if (response.status === 404) return undefined;
  if (!response.ok) throw await blobError(client, response, repository, digest, 'HEAD');
  checkClaimedDigest(response, {
    expected: digest,
    mismatch: (claimed) =>
      `The ${client.name} answered HEAD for ${where(client, repository, digest)} with the digest ${claimed}; a registry must name the digest asked for. Something between the agent and the registry altered the answer, or the registry is faulty.`,
  });
  const size = Number(response.headers.get('content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new DigestReleaseError(
      'REGISTRY_ERROR',
      `The ${client.name} answered HEAD for ${where(client, repository, digest)} without a usable Content-Length, which every OCI registry sends. Check that nothing between the agent and the registry (a proxy) drops its headers.`,
    );
  }
  return { size };
}

export interface OpenBlobOptions {
  /** The stalls of the operation the read is part of (an upload's: see UploadOptions.stalls). */
  readonly stalls?: StallBudget;
}

/**
 * The blob's bytes as a Node stream that is checked while it flows: it errors with DIGEST_MISMATCH
 * at the end when the bytes do not hash to `digest` (or exceed or fall short of `size`, when given).
 * Redirects to storage are followed (RegistryClient.requestFollowing). Node streams, not web
 * streams: a copy pipes it into an upload with backpressure and no extra copy, and the bundle needs
 * no global that an older Node the agent may fall back to lacks. A read that breaks off is not
 * retried here (what was passed on is spent): its reader starts over (uploadBlob does).
 */
export async function openBlob(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  size?: number,
  options: OpenBlobOptions = {},
): Promise<Readable> {
  const response = await client.requestFollowing(
    {
      method: 'GET',
      path: blobPath(repository, digest),
      scope: pullScope(repository),
      ...(options.stalls ? { stalls: options.stalls } : {}),
    },
    where(client, repository, digest),
  );
  if (!response.ok || !response.body) throw await blobError(client, response, repository, digest, 'GET');
  const download = response.stream();
  const check = verifyingStream(digest, size, `The ${client.name}, asked for ${where(client, repository, digest)},`);
  let received = 0;
  // A download that fails midway errors the check with an error that names this registry, not
  // whatever the check is piped into: an upload it aborts would otherwise report the socket's
  // error as its own (a reset or a stall "of" the target). A check destroyed by its reader ends the download.
  finished(download, (err) => {
    if (err)
      check.destroy(
        lostAnswer(client.peer, response, err, received, {
          stallMs: client.stallMs,
          network: client.network,
          what: where(client, repository, digest),
          ...(size !== undefined ? { size } : {}),
        }),
      );
  });
  check.once('close', () => {
    if (!download.readableEnded) download.destroy();
  });
  download.pipe(check);
  download.on('data', (chunk: Buffer) => (received += chunk.byteLength));
  return check;
}

/**
/**
 * A small blob (an evidence statement, a record) read whole into memory, checked against its
 * digest and size: read through the same path as manifests, so a read lost midway (dropped, cut
 * short, stalled) is asked for again. A descriptor of more than `maxBytes` is not read: `tooLarge`
 * says what that means here; a registry that sends more than the descriptor says is refused.
 */
export async function readSmallBlob(
  client: RegistryClient,
  repository: string,
  blob: { readonly digest: Digest; readonly size: number },
  maxBytes: number,
  tooLarge: () => DigestReleaseError,
): Promise<Buffer> {
  if (blob.size > maxBytes) throw tooLarge();
  const { digest, size } = blob;
  const what = where(client, repository, digest);
  const { response, body } = await client.readWhole(
    (stalls) =>
      client.requestFollowing(
        { method: 'GET', path: blobPath(repository, digest), scope: pullScope(repository), stalls },
        what,
      ),
    {
      bytes: size,
      what: `The ${client.name}'s answer for ${what}`,
      kind: `this blob (its descriptor says ${size} bytes)`,
      code: 'DIGEST_MISMATCH',
    },
  );
  if (!response.ok || body === undefined) throw await blobError(client, response, repository, digest, 'GET');
  if (body.byteLength !== size || sha256Of(body) !== digest) {
    throw new DigestReleaseError(
      'DIGEST_MISMATCH',
      `The ${client.name}, asked for ${what}, sent ${body.byteLength} bytes that hash to ${sha256Of(body)}, where the descriptor says ${size} bytes hashing to ${digest}. ` +
        'The registry (or something between it and the agent) serves corrupt or substituted content; nothing of it is used.',
    );
  }
  return body;
}

/**
 * Mounts a blob from another repository of the same registry. True when mounted; false when the
 * registry declined (it may not allow the mount, or lack the blob there) and opened an upload
 * instead, which is cancelled here: the caller uploads.
 */
export async function mountBlob(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  fromRepository: string,
): Promise<boolean> {
  const query = new URLSearchParams({ mount: digest, from: fromRepository });
  const response = await client.request({
    method: 'POST',
    path: `/v2/${repository}/blobs/uploads/?${query.toString()}`,
    scope: pushScope(repository),
  });
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

const ACTIONS: Record<
  BlobAction,
  { readonly doing: string; readonly todo: string; readonly needs: 'pull from' | 'push to' }
> = {
  HEAD: { doing: 'looking up', todo: 'look up', needs: 'pull from' },
  GET: { doing: 'reading', todo: 'read', needs: 'pull from' },
  mount: { doing: 'mounting', todo: 'mount', needs: 'push to' },
  start: { doing: 'starting an upload of', todo: 'start an upload of', needs: 'push to' },
  close: { doing: 'completing the upload of', todo: 'complete the upload of', needs: 'push to' },
  chunk: { doing: 'uploading a chunk of', todo: 'upload a chunk of', needs: 'push to' },
};

async function blobError(
  client: RegistryClient,
  response: HttpResponse,
  repository: string,
  digest: Digest,
  action: BlobAction,
): Promise<DigestReleaseError> {
  const status = response.status;
  const entries = response.body ? await readErrorBody(response) : [];
  const detail = describeErrors(entries);
  const suffix = detail ? ` (${detail})` : '';
  const what = where(client, repository, digest);
  const { doing, todo, needs } = ACTIONS[action];
  switch (answerCode(status, entries, action === 'GET' || action === 'HEAD' ? 'blob read' : 'blob write')) {
    case 'DENIED':
      return new DigestReleaseError(
        'DENIED',
        `The ${client.name} denied ${doing} ${what}${suffix}. Check that the credentials may ${needs} ${repository}.`,
        { status },
      );
    case 'NAME_UNKNOWN':
      return new DigestReleaseError(
        'NAME_UNKNOWN',
        `The repository ${client.registry}/${repository} does not exist${suffix}. Check the repository name.`,
        { status },
      );
    case 'BLOB_UNKNOWN':
      return new DigestReleaseError(
        'BLOB_UNKNOWN',
        `The ${client.name} has no ${what}${suffix}, though a manifest there names it. The image there is incomplete; push it again.`,
        { status },
      );
    case 'DIGEST_MISMATCH':
      return new DigestReleaseError(
        'DIGEST_MISMATCH',
        `The ${client.name} refused ${what}: the bytes uploaded do not hash to the digest${suffix}. Something between the agent and the registry altered them; nothing was stored.`,
        { status },
      );
    default:
      return unexpectedAnswer(client.name, response, `when asked to ${todo} ${what}`, entries);
  }
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
