import type { Readable } from 'node:stream';
import { finished } from 'node:stream';
import { DigestReleaseError } from '../errors';
import { lostAnswer } from '../http/failures';
import type { HttpResponse } from '../http/response';
import type { StallBudget } from '../http/transport';
import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import type { RegistryClient } from './client';
import { checkClaimedDigest } from './manifests';
import { answerCode, readRefusal, repositoryUnknown, unexpectedAnswer } from './error-answers';
import { pullScope, pushScope } from './sign-in';
import { verifyingStream } from './verifying-stream';

// Blobs: HEAD, a verified streaming GET, a small blob read whole, and cross-repository mount, and
// the error every blob request answers with; uploads are in blob-upload.ts.

export function blobPath(repository: string, digest: Digest): string {
  return `/v2/${repository}/blobs/${digest}`;
}

export function where(client: RegistryClient, repository: string, digest: Digest): string {
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

/** What was asked of the registry, as a gerund for "denied …" and as a verb for "asked to …". */
export type BlobAction = 'HEAD' | 'GET' | 'mount' | 'start' | 'close' | 'chunk';

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

export async function blobError(
  client: RegistryClient,
  response: HttpResponse,
  repository: string,
  digest: Digest,
  action: BlobAction,
): Promise<DigestReleaseError> {
  const status = response.status;
  const { entries, suffix } = await readRefusal(response);
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
      return repositoryUnknown(client.registry, repository, suffix, status);
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

/** Best effort: an abandoned upload session is only clutter, which the registry expires anyway. */
export async function cancelUpload(client: RegistryClient, repository: string, location: string): Promise<void> {
  try {
    const response = await client.request({ method: 'DELETE', path: location, scope: pushScope(repository) });
    await response.body?.cancel();
  } catch {
    // nothing to do: the session expires on the registry
  }
}
