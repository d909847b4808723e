import { DigestReleaseError, withMore } from '../errors';
import { isRecord } from '../json';
import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import { MAX_MANIFEST_BYTES, findManifest, writeManifest } from './manifests';
import type { RegistryClient } from './client';
import { pullScope } from './sign-in';
import { readErrorBody, unexpectedAnswer } from './error-answers';
import { nextLink } from '../http/link-header';
import type { Descriptor } from './manifest-parse';
import { OCI_INDEX, parseManifest } from './manifest-parse';
import { settle } from './racing-writes';

// Referrers: the manifests whose `subject` is a digest (signatures, SBOMs, attestations, evidence).
// Read through the OCI referrers API, or, where the registry has none (404 from the endpoint, as
// distribution 2.x answers), through the tag schema: an index tagged `sha256-<hex>` that clients
// keep up to date themselves when they push a referrer.

export interface ReferrerFilter {
  readonly artifactType?: string;
}

/**
 * Where referrers are read: `auto` asks the referrers API and falls back to the tag schema on a
 * 404; `tagSchema` goes to the tag schema at once, for a caller that knows the registry has no API
 * (hasReferrersApi) and reads the referrers of many digests.
 */
export type ReferrerSource = 'auto' | 'tagSchema';

/** A digest no manifest has: the probe of hasReferrersApi asks for its referrers. */
const NO_SUBJECT = `sha256:${'0'.repeat(64)}`;

/**
 * Whether the registry serves the referrers API for the repository. The distribution spec has a
 * registry with the API answer 200 (an empty index) for any digest of a repository that exists, and
 * never 404; without the API the route is unknown and answers 404.
 */
export async function hasReferrersApi(client: RegistryClient, repository: string): Promise<boolean> {
  const response = await client.request({
    method: 'GET',
    path: `/v2/${repository}/referrers/${NO_SUBJECT}`,
    scope: pullScope(repository),
    headers: { Accept: OCI_INDEX },
  });
  if (response.status === 404 || response.ok) {
    await response.body?.cancel();
    return response.ok;
  }
  throw unexpectedAnswer(
    client.name,
    response,
    `when asked whether ${repository} has the referrers API`,
    await readErrorBody(response),
  );
}

/** The tag the referrers tag schema keeps the index of `digest`'s referrers under. */
export function referrersTag(digest: Digest): string {
  return digest.replace(':', '-');
}

/** Pages of the referrers API followed; a subject with more referrers than this is an anomaly. */
const MAX_PAGES = 100;

export async function listReferrers(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  filter: ReferrerFilter = {},
  via: ReferrerSource = 'auto',
): Promise<Descriptor[]> {
  if (via === 'tagSchema') return fromTagSchema(client, repository, digest, filter);
  return (
    (await referrersByApi(client, repository, digest, filter)) ?? fromTagSchema(client, repository, digest, filter)
  );
}

/**
 * The referrers of `digest` through the referrers API alone; undefined when the registry answers
 * 404, that is, has no API (one with it never answers 404, see hasReferrersApi). So the first
 * subject asked also tells a caller with many whether to read the others from the tag schema.
 */
export async function referrersByApi(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  filter: ReferrerFilter = {},
): Promise<Descriptor[] | undefined> {
  const where = `the referrers of ${client.registry}/${repository}@${digest}`;
  const query =
    filter.artifactType === undefined
      ? ''
      : `?${new URLSearchParams({ artifactType: filter.artifactType }).toString()}`;
  let path: string | undefined = `/v2/${repository}/referrers/${digest}${query}`;
  const found: Descriptor[] = [];
  let filtered = filter.artifactType === undefined;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const pagePath: string = path;
    const { response, body } = await client.readWhole(
      (stalls) =>
        client.request({
          method: 'GET',
          path: pagePath,
          scope: pullScope(repository),
          headers: { Accept: OCI_INDEX },
          stalls,
        }),
      {
        bytes: MAX_MANIFEST_BYTES,
        what: `The ${client.name}'s page of ${where}`,
        kind: 'an index',
        code: 'REGISTRY_ERROR',
      },
    );
    if (response.status === 404 && page === 0) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok || body === undefined)
      throw unexpectedAnswer(client.name, response, `when asked for ${where}`, await readErrorBody(response));
    if ((response.headers.get('oci-filters-applied') ?? '').split(',').some((f) => f.trim() === 'artifactType'))
      filtered = true;
    const index = parseManifest(new Uint8Array(body), OCI_INDEX, where);
    if (index.kind !== 'index') {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${client.name} answered the request for ${where} with something other than an index. Check that nothing between the agent and the registry (a proxy) answers in its place.`,
      );
    }
    found.push(...index.manifests);
    path = nextLink(response.headers.get('link'), path);
  }
  return filtered ? found : found.filter((d) => d.artifactType === filter.artifactType);
}

async function fromTagSchema(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  filter: ReferrerFilter,
): Promise<Descriptor[]> {
  const manifests = await readTagIndex(client, repository, referrersTag(digest));
  return filter.artifactType === undefined
    ? manifests
    : manifests.filter((d) => d.artifactType === filter.artifactType);
}

/**
 * Writes a referrer manifest (one with a `subject`) by its digest. A registry with the referrers
 * API answers with an OCI-Subject header and indexes it itself; otherwise the `sha256-<hex>` tag
 * index is read, the referrer added with its artifactType and annotations, and written back, as
 * the distribution spec asks of clients. Writing a referrer already listed changes nothing.
 */
export async function pushReferrer(
  client: RegistryClient,
  repository: string,
  bytes: Uint8Array<ArrayBuffer>,
  mediaType: string,
  subject: Digest,
): Promise<Digest> {
  const digest = sha256Of(bytes);
  const where = `the referrer ${client.registry}/${repository}@${digest}`;
  const manifest = parseManifest(bytes, mediaType, where);
  if (manifest.subject?.digest !== subject) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The manifest to push as ${where} has ${manifest.subject ? `the subject ${manifest.subject.digest}` : 'no subject'}, not ${subject}; a referrer must name its subject.`,
    );
  }
  const written = await writeManifest(client, repository, digest, bytes, mediaType);
  if (written.ociSubject === subject) return digest;

  const fields = topLevelFields(bytes);
  const artifactType = fields.artifactType ?? (manifest.kind === 'image' ? manifest.config.mediaType : undefined);
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType,
    digest,
    size: bytes.byteLength,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(fields.annotations ? { annotations: fields.annotations } : {}),
  };
  try {
    await addToTagIndex(client, repository, subject, descriptor);
  } catch (err) {
    throw withMore(
      err,
      `The referrer ${client.registry}/${repository}@${digest} was written by digest, but is not listed in the referrers index ${repository}:${referrersTag(subject)}, so nothing finds it as a referrer of ${subject} yet.`,
    );
  }
  return digest;
}

/** Rounds of read, merge and write before giving up on a tag-schema index others keep rewriting. */
const INDEX_ROUNDS = 5;

/**
 * Adds a referrer to the `sha256-<hex>` index. Another client may be doing the same from the same
 * starting index, and the last write would drop the other's entry; so after writing, wait for such
 * a writer to land (racing-writes.ts), read back, and merge again until our entry is there.
 */
async function addToTagIndex(
  client: RegistryClient,
  repository: string,
  subject: Digest,
  descriptor: Descriptor,
): Promise<void> {
  const tag = referrersTag(subject);
  for (let round = 1; round <= INDEX_ROUNDS; round++) {
    const started = Date.now();
    const existing = await readTagIndex(client, repository, tag);
    if (existing.some((d) => d.digest === descriptor.digest)) return;
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...existing, descriptor].map(descriptorJson) };
    await writeManifest(client, repository, tag, new Uint8Array(Buffer.from(JSON.stringify(index))), OCI_INDEX);
    await settle(started);
  }
  throw new DigestReleaseError(
    'REGISTRY_ERROR',
    `The referrer ${descriptor.digest} was written to ${client.registry}/${repository}, but other clients rewrote the referrers index ${repository}:${tag} ` +
      `${INDEX_ROUNDS} times without it, so it cannot be found through the index. Run the task again when the other writers are done.`,
  );
}

/** The tag-schema index's entries; none when the tag (or the repository) does not exist. */
async function readTagIndex(client: RegistryClient, repository: string, tag: string): Promise<Descriptor[]> {
  const current = await findManifest(client, repository, tag);
  return current?.manifest.kind === 'index' ? [...current.manifest.manifests] : [];
}

function descriptorJson(d: Descriptor): Record<string, unknown> {
  const platform = d.platform
    ? {
        architecture: d.platform.architecture,
        os: d.platform.os,
        ...(d.platform.osVersion ? { 'os.version': d.platform.osVersion } : {}),
        ...(d.platform.variant ? { variant: d.platform.variant } : {}),
      }
    : undefined;
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
    ...(platform ? { platform } : {}),
  };
}

/** artifactType and annotations of a manifest (image or index), checked; parseManifest keeps neither for an index. */
function topLevelFields(bytes: Uint8Array): { artifactType?: string; annotations?: Record<string, string> } {
  const doc: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  if (!isRecord(doc)) return {};
  const record = doc;
  const result: { artifactType?: string; annotations?: Record<string, string> } = {};
  if (typeof record.artifactType === 'string') result.artifactType = record.artifactType;
  const annotations = record.annotations;
  if (isRecord(annotations)) {
    const checked: Record<string, string> = {};
    for (const [key, value] of Object.entries(annotations)) if (typeof value === 'string') checked[key] = value;
    result.annotations = checked;
  }
  return result;
}
