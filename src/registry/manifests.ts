import { DigestReleaseError } from '../errors';
import type { HttpResponse } from '../http/response';
import { bareMediaType } from '../http/response';
import type { Digest } from '../reference/digest';
import { isDigest, sha256Of } from '../reference/digest';
import type { RegistryClient } from './client';
import { answerCode, readErrorBody, readRefusal, repositoryUnknown, unexpectedAnswer } from './error-answers';
import type { Manifest, ManifestMediaType } from './manifest-parse';
import { MANIFEST_ACCEPT, parseManifest } from './manifest-parse';
import { pullScope, pushScope } from './sign-in';

// Manifests: read (GET, verified) and looked up (HEAD), written by digest or under a tag, and the
// check of the Docker-Content-Digest a registry claims. Every manifest read is checked: the bytes
// must hash to the digest asked for, and to the Docker-Content-Digest the registry sent. A written
// manifest's digest is ours (the hash of the bytes we send); the registry's claim must agree, and a
// digest reference must be that hash. Parsing the bytes is in manifest-parse.ts.

export interface ManifestResult {
  /** The sha256 of `bytes`, checked against what the registry claimed. */
  readonly digest: Digest;
  readonly mediaType: ManifestMediaType;
  readonly bytes: Uint8Array;
  readonly manifest: Manifest;
}

export interface ManifestHead {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

/** Registries cap manifests at 4 MiB; more is not a manifest and is not read into memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** GET a manifest by tag or digest, verified. */
export function getManifest(client: RegistryClient, repository: string, selector: string): Promise<ManifestResult> {
  return readManifest(client, repository, selector, false);
}

/**
 * GET a manifest by tag or digest, verified; undefined when the registry answers 404 (no such
 * manifest, or no such repository: the caller does not need to know which). For reads where
 * absence is an answer, such as a referrers tag-schema index: no tag-list probe is sent to tell a
 * missing repository from a missing manifest, as getManifest's error does.
 */
export function findManifest(
  client: RegistryClient,
  repository: string,
  selector: string,
): Promise<ManifestResult | undefined> {
  return readManifest(client, repository, selector, true);
}

function readManifest(
  client: RegistryClient,
  repository: string,
  selector: string,
  absentIsAnswer: false,
): Promise<ManifestResult>;
function readManifest(
  client: RegistryClient,
  repository: string,
  selector: string,
  absentIsAnswer: true,
): Promise<ManifestResult | undefined>;
async function readManifest(
  client: RegistryClient,
  repository: string,
  selector: string,
  absentIsAnswer: boolean,
): Promise<ManifestResult | undefined> {
  const where = manifestName(client.registry, repository, selector);
  const { response, body } = await client.readWhole(
    (stalls) =>
      client.requestFollowing(
        {
          method: 'GET',
          path: manifestPath(repository, selector),
          scope: pullScope(repository),
          headers: { Accept: MANIFEST_ACCEPT },
          stalls,
        },
        `the manifest ${where}`,
      ),
    {
      bytes: MAX_MANIFEST_BYTES,
      what: `The ${client.name}'s answer for the manifest ${where}`,
      kind: 'a manifest',
      code: 'REGISTRY_ERROR',
    },
  );
  if (absentIsAnswer && response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok || body === undefined) throw await manifestError(client, response, repository, where);
  const bytes = new Uint8Array(body);
  const digest = sha256Of(bytes);
  checkClaimedDigest(response, {
    expected: digest,
    mismatch: (claimed) =>
      `The ${client.name} sent manifest bytes for ${where} that hash to ${digest}, but its Docker-Content-Digest header says ${claimed}. ` +
      'Something between the agent and the registry (a proxy or cache) altered the manifest, or the registry is faulty; do not trust this tag until it is explained.',
  });
  if (isDigest(selector) && selector !== digest) {
    throw new DigestReleaseError(
      'DIGEST_MISMATCH',
      `The ${client.name} answered a request for ${where} with bytes that hash to ${digest}. A registry must serve exactly the bytes of the digest asked for; ` +
        'something between the agent and the registry (a proxy or cache) altered the manifest, or the registry is faulty.',
    );
  }
  const manifest = parseManifest(bytes, bareMediaType(response.headers.get('content-type')), where);
  return { digest, mediaType: manifest.mediaType, bytes, manifest };
}

/** HEAD a manifest by tag or digest; undefined when the registry does not have it. */
export async function headManifest(
  client: RegistryClient,
  repository: string,
  selector: string,
): Promise<ManifestHead | undefined> {
  const where = manifestName(client.registry, repository, selector);
  const response = await client.requestFollowing(
    {
      method: 'HEAD',
      path: manifestPath(repository, selector),
      scope: pullScope(repository),
      headers: { Accept: MANIFEST_ACCEPT },
    },
    `the manifest ${where}`,
  );
  if (response.status === 404) return undefined;
  if (!response.ok) throw await manifestError(client, response, repository, where);
  const digest = checkClaimedDigest(response, {
    expected: isDigest(selector) ? selector : undefined,
    missing: (claimed) =>
      `The ${client.name} answered HEAD for ${where} without a valid Docker-Content-Digest header (${claimed ?? 'none'}), which every OCI registry sends. Check that nothing between the agent and the registry (a proxy) drops its headers.`,
    mismatch: (claimed) =>
      `The ${client.name} answered HEAD for ${where} with the digest ${claimed}; a registry must name the digest asked for. Something between the agent and the registry altered the answer, or the registry is faulty.`,
  });
  return {
    digest,
    mediaType: bareMediaType(response.headers.get('content-type')),
    size: Number(response.headers.get('content-length') ?? '0'),
  };
}

export async function putManifest(
  client: RegistryClient,
  repository: string,
  tagOrDigest: string,
  bytes: Uint8Array<ArrayBuffer>,
  mediaType: string,
): Promise<Digest> {
  return (await writeManifest(client, repository, tagOrDigest, bytes, mediaType)).digest;
}

export interface ManifestWritten {
  readonly digest: Digest;
  /** The OCI-Subject header: the registry indexed the manifest's subject for the referrers API. */
  readonly ociSubject: string | undefined;
}

/** putManifest, with what the registry said about the subject. */
export async function writeManifest(
  client: RegistryClient,
  repository: string,
  tagOrDigest: string,
  bytes: Uint8Array<ArrayBuffer>,
  mediaType: string,
): Promise<ManifestWritten> {
  const digest = sha256Of(bytes);
  const name = `${client.registry}/${repository}${isDigest(tagOrDigest) ? '@' : ':'}${tagOrDigest}`;
  if (isDigest(tagOrDigest) && tagOrDigest !== digest) {
    throw new DigestReleaseError(
      'DIGEST_MISMATCH',
      `The manifest bytes to write as ${name} hash to ${digest}; a manifest is written only under its own digest.`,
    );
  }
  const response = await client.request({
    method: 'PUT',
    path: `/v2/${repository}/manifests/${tagOrDigest}`,
    scope: pushScope(repository),
    headers: { 'Content-Type': mediaType },
    body: bytes,
  });
  if (response.status !== 201 && response.status !== 200) {
    const { entries, suffix } = await readRefusal(response);
    const status = response.status;
    switch (answerCode(status, entries, 'manifest write')) {
      case 'DENIED':
        throw new DigestReleaseError(
          'DENIED',
          `The ${client.name} denied writing ${name}${suffix}. Check that the credentials may push to ${repository}.`,
          { status },
        );
      case 'BLOB_UNKNOWN':
        throw new DigestReleaseError(
          'BLOB_UNKNOWN',
          `The ${client.name} refused ${name}: a blob it names is not in ${repository}${suffix}.`,
          { status },
        );
      case 'NAME_UNKNOWN':
        throw repositoryUnknown(client.registry, repository, suffix, status);
      default:
        throw unexpectedAnswer(client.name, response, `to writing ${name}`, entries);
    }
  }
  await response.body?.cancel();
  checkClaimedDigest(response, {
    expected: digest,
    mismatch: (claimed) =>
      `The ${client.name} stored the manifest written as ${name} under ${claimed}, but its bytes hash to ${digest}. The registry rewrote the manifest; it cannot hold this digest, so promote to a registry that keeps manifests as they are.`,
  });
  return { digest, ociSubject: response.headers.get('oci-subject')?.trim() || undefined };
}

// The Docker-Content-Digest header is what the registry claims an answer is; it is checked against
// what we know (the digest asked for, or the hash of the bytes) and never taken on trust.

export interface ClaimedDigestCheck {
  /** The digest the header must name; undefined when any digest will do (a HEAD by tag). */
  readonly expected: Digest | undefined;
  /** The message of the DIGEST_MISMATCH error when the header names another digest. */
  readonly mismatch: (claimed: string) => string;
  /** When set, the header must be there and be a digest; the message of the REGISTRY_ERROR otherwise. */
  readonly missing?: (claimed: string | undefined) => string;
}

/** Checks the header of `response`; answers the digest it names (undefined when it names none). */
export function checkClaimedDigest(
  response: Pick<HttpResponse, 'headers'>,
  check: ClaimedDigestCheck & Required<Pick<ClaimedDigestCheck, 'missing'>>,
): Digest;
export function checkClaimedDigest(
  response: Pick<HttpResponse, 'headers'>,
  check: ClaimedDigestCheck,
): Digest | undefined;
export function checkClaimedDigest(
  response: Pick<HttpResponse, 'headers'>,
  check: ClaimedDigestCheck,
): Digest | undefined {
  const claimed = response.headers.get('docker-content-digest')?.trim() || undefined;
  if (check.missing && (claimed === undefined || !isDigest(claimed)))
    throw new DigestReleaseError('REGISTRY_ERROR', check.missing(claimed));
  if (claimed === undefined) return undefined;
  if (check.expected !== undefined && claimed !== check.expected)
    throw new DigestReleaseError('DIGEST_MISMATCH', check.mismatch(claimed));
  return isDigest(claimed) ? claimed : undefined;
}

async function manifestError(
  client: RegistryClient,
  response: HttpResponse,
  repository: string,
  where: string,
): Promise<DigestReleaseError> {
  const status = response.status;
  const { entries, suffix } = await readRefusal(response);
  let code = answerCode(status, entries, 'manifest read');
  // Some registries (distribution among them) answer MANIFEST_UNKNOWN for a repository that does
  // not exist at all; one look at its tag list tells the two apart, on the error path only.
  if (code === 'MANIFEST_UNKNOWN' && (await repositoryMissing(client, repository))) code = 'NAME_UNKNOWN';
  switch (code) {
    case 'NAME_UNKNOWN':
      return new DigestReleaseError(
        'NAME_UNKNOWN',
        `The repository ${client.registry}/${repository} does not exist on the ${client.peer}${suffix}. Check the repository name, and that the push went to this registry.`,
        { status },
      );
    case 'MANIFEST_UNKNOWN':
      return new DigestReleaseError(
        'MANIFEST_UNKNOWN',
        `The ${client.peer} has no manifest for ${where}${suffix}. Check the tag, and that this task runs after the push.`,
        { status },
      );
    case 'DENIED':
      return new DigestReleaseError(
        'DENIED',
        `The ${client.name} denied access to ${where}${suffix}. Check that the credentials may pull this repository.`,
        { status },
      );
    default:
      return unexpectedAnswer(client.name, response, `for ${where}`, entries);
  }
}

async function repositoryMissing(client: RegistryClient, repository: string): Promise<boolean> {
  try {
    const response = await client.request({
      method: 'GET',
      path: `/v2/${repository}/tags/list?n=1`,
      scope: pullScope(repository),
    });
    const entries = response.status === 404 ? await readErrorBody(response) : [];
    if (response.status !== 404) await response.body?.cancel();
    return answerCode(response.status, entries, 'manifest read') === 'NAME_UNKNOWN';
  } catch {
    return false;
  }
}

function manifestName(registry: string, repository: string, selector: string): string {
  return `${registry}/${repository}${isDigest(selector) ? '@' : ':'}${selector}`;
}

function manifestPath(repository: string, selector: string): string {
  return `/v2/${repository}/manifests/${selector}`;
}
