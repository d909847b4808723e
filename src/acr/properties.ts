import { DigestReleaseError } from '../errors';
import { asRecord, parseJson } from '../json';
import type { Digest } from '../reference/digest';
import { isDigest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import { answerCode, readRefusal, unexpectedAnswer } from '../registry/error-answers';
import { nextLink } from '../http/link-header';
import { ACR_API_VERSION } from './exchange';

// ACR's tag and manifest properties (/acr/v1/{repository}/_tags/{tag} and /_manifests/{digest}),
// read and updated over the registry client, which signs each call for the metadata scopes, and the
// listing of a repository's manifests with theirs (/acr/v1/{repository}/_manifests, pages linked as
// the tag listing's are). Tags and manifests are separate resources: locking one says nothing about
// the other.
//
// Written by hand over RegistryClient.request rather than with @azure/container-registry: the
// client already holds the ACR sign-in (one exchange per process, shared with the digest reads),
// the two calls are small, and the SDK would bring its own pipeline, its own token exchange and
// start-up cost to every run of the task for what is four requests.

export interface ChangeableAttributes {
  readonly writeEnabled: boolean;
  readonly deleteEnabled: boolean;
  readonly readEnabled?: boolean;
  readonly listEnabled?: boolean;
}

export interface TagProperties {
  readonly name: string;
  readonly digest: string;
  readonly attributes: ChangeableAttributes;
}

export interface ManifestProperties {
  readonly digest: string;
  readonly attributes: ChangeableAttributes;
}

export type AttributePatch = Pick<ChangeableAttributes, 'writeEnabled' | 'deleteEnabled'>;
/**
 * What a PATCH sets: ACR takes a partial body and leaves the attributes it does not name as they
 * are, so a change to one attribute never overwrites what someone else set on the other.
 */
export type AttributeChange = Partial<AttributePatch>;

/** One manifest of a repository listing: ACR lists every manifest, tagged or not. */
export interface ListedManifest {
  readonly digest: Digest;
  readonly mediaType: string | undefined;
  readonly tags: readonly string[];
  readonly attributes: ChangeableAttributes;
}

/** The properties of one tag or manifest are well under a KiB. */
const MAX_PROPERTIES_BYTES = 1024 * 1024;

const readScope = (repository: string): string => `repository:${repository}:metadata_read`;
const writeScope = (repository: string): string => `repository:${repository}:metadata_write`;

function tagPath(repository: string, tag: string): string {
  return `/acr/v1/${repository}/_tags/${encodeURIComponent(tag)}?api-version=${ACR_API_VERSION}`;
}

function manifestPath(repository: string, digest: Digest): string {
  return `/acr/v1/${repository}/_manifests/${digest}?api-version=${ACR_API_VERSION}`;
}

/** Manifests asked for per page of the listing. */
const LISTING_PAGE = 100;
/** Pages followed: 100 000 manifests in one repository is more than any release history needs. */
const MAX_LISTING_PAGES = 1000;

export async function getTagProperties(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<TagProperties> {
  const what = `the tag ${client.registry}/${repository}:${tag}`;
  const { body } = await call(
    client,
    { method: 'GET', path: tagPath(repository, tag), scope: readScope(repository) },
    what,
  );
  return tagFrom(body, what);
}

export async function getManifestProperties(
  client: RegistryClient,
  repository: string,
  digest: Digest,
): Promise<ManifestProperties> {
  const what = `the manifest ${client.registry}/${repository}@${digest}`;
  const { body } = await call(
    client,
    { method: 'GET', path: manifestPath(repository, digest), scope: readScope(repository) },
    what,
  );
  return manifestFrom(body, what);
}

export async function updateTagProperties(
  client: RegistryClient,
  repository: string,
  tag: string,
  patch: AttributeChange,
): Promise<TagProperties> {
  const what = `the tag ${client.registry}/${repository}:${tag}`;
  const { body } = await call(
    client,
    { method: 'PATCH', path: tagPath(repository, tag), scope: writeScope(repository), json: patch },
    what,
  );
  return tagFrom(body, what);
}

export async function updateManifestProperties(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  patch: AttributeChange,
): Promise<ManifestProperties> {
  const what = `the manifest ${client.registry}/${repository}@${digest}`;
  const { body } = await call(
    client,
    { method: 'PATCH', path: manifestPath(repository, digest), scope: writeScope(repository), json: patch },
    what,
  );
  return manifestFrom(body, what);
}

/** Every manifest of the repository with its attributes, following the listing's pages. */
export async function listManifestProperties(client: RegistryClient, repository: string): Promise<ListedManifest[]> {
  const what = `the manifests of ${client.registry}/${repository}`;
  const listed: ListedManifest[] = [];
  let path: string | undefined = `/acr/v1/${repository}/_manifests?n=${LISTING_PAGE}&api-version=${ACR_API_VERSION}`;
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_LISTING_PAGES) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${client.name} listed more than ${MAX_LISTING_PAGES * LISTING_PAGE} manifests in ${repository}; they were not all read.`,
      );
    }
    const answer = await call(client, { method: 'GET', path, scope: readScope(repository) }, what);
    const entries = asRecord(answer.body)?.manifests;
    if (entries !== undefined && entries !== null && !Array.isArray(entries)) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${client.name} answered the listing of ${what} with manifests that are not a list.`,
      );
    }
    for (const entry of (entries ?? []) as unknown[]) listed.push(listedFrom(entry, what));
    path = nextLink(answer.link, path);
  }
  return listed;
}

async function call(
  client: RegistryClient,
  req: { method: 'GET' | 'PATCH'; path: string; scope: string; json?: AttributeChange },
  what: string,
): Promise<{ body: unknown; link: string | null }> {
  // A PATCH of the same attributes may be sent again: the second leaves them as the first did.
  const { response, body } = await client.readWhole(
    (stalls) =>
      client.request({
        method: req.method,
        path: req.path,
        scope: req.scope,
        headers: { Accept: 'application/json', ...(req.json ? { 'Content-Type': 'application/json' } : {}) },
        ...(req.json ? { body: JSON.stringify(req.json) } : {}),
        stalls,
      }),
    {
      bytes: MAX_PROPERTIES_BYTES,
      what: `The ${client.name}'s properties of ${what}`,
      kind: 'the properties of one tag or manifest, or a page of them',
      code: 'REGISTRY_ERROR',
    },
  );
  if (!response.ok || body === undefined) {
    const { entries, suffix } = await readRefusal(response);
    switch (answerCode(response.status, entries, 'properties')) {
      case 'NAME_UNKNOWN':
        throw new DigestReleaseError(
          'NAME_UNKNOWN',
          `The repository of ${what} does not exist on the registry${suffix}.`,
          { status: 404 },
        );
      case 'MANIFEST_UNKNOWN':
        throw new DigestReleaseError(
          'MANIFEST_UNKNOWN',
          `The registry has no ${what}${suffix}. Check the tag, and that this task runs after the push.`,
          { status: 404 },
        );
      case 'DENIED':
        throw new DigestReleaseError(
          'DENIED',
          `The ${client.name} denied ${req.method === 'GET' ? 'reading' : 'changing'} the properties of ${what}${suffix}. ` +
            'The identity needs a role that allows reading and writing repository metadata (for example Contributor on the registry, or Container Registry Repository Writer on registries with repository permissions).',
          { status: 403 },
        );
      default:
        throw unexpectedAnswer(client.name, response, `to ${req.method} of the properties of ${what}`, entries);
    }
  }
  return { body: parseJson(body.toString('utf8')), link: response.headers.get('link') };
}

function attributesFrom(value: unknown, what: string): ChangeableAttributes {
  const attrs = asRecord(value);
  const writeEnabled = attrs?.writeEnabled;
  const deleteEnabled = attrs?.deleteEnabled;
  if (typeof writeEnabled !== 'boolean' || typeof deleteEnabled !== 'boolean') {
    throw new DigestReleaseError(
      'REGISTRY_ERROR',
      `The registry answered the properties of ${what} without changeableAttributes.writeEnabled and deleteEnabled.`,
    );
  }
  const readEnabled = attrs?.readEnabled;
  const listEnabled = attrs?.listEnabled;
  return {
    writeEnabled,
    deleteEnabled,
    ...(typeof readEnabled === 'boolean' ? { readEnabled } : {}),
    ...(typeof listEnabled === 'boolean' ? { listEnabled } : {}),
  };
}

function tagFrom(body: unknown, what: string): TagProperties {
  const tag = asRecord(asRecord(body)?.tag);
  const name = tag?.name;
  const digest = tag?.digest;
  if (typeof name !== 'string' || typeof digest !== 'string') {
    throw new DigestReleaseError(
      'REGISTRY_ERROR',
      `The registry answered the properties of ${what} without the tag's name and digest.`,
    );
  }
  return { name, digest, attributes: attributesFrom(tag?.changeableAttributes, what) };
}

function listedFrom(entry: unknown, what: string): ListedManifest {
  const manifest = asRecord(entry);
  const digest = manifest?.digest;
  if (typeof digest !== 'string' || !isDigest(digest))
    throw new DigestReleaseError(
      'REGISTRY_ERROR',
      `The registry listed ${what} with an entry that has no sha256 digest.`,
    );
  const tags = manifest?.tags;
  const mediaType = manifest?.mediaType;
  return {
    digest,
    mediaType: typeof mediaType === 'string' ? mediaType : undefined,
    tags: Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : [],
    attributes: attributesFrom(manifest?.changeableAttributes, `${digest} in ${what}`),
  };
}

function manifestFrom(body: unknown, what: string): ManifestProperties {
  const manifest = asRecord(asRecord(body)?.manifest);
  const digest = manifest?.digest;
  if (typeof digest !== 'string')
    throw new DigestReleaseError(
      'REGISTRY_ERROR',
      `The registry answered the properties of ${what} without the manifest's digest.`,
    );
  return { digest, attributes: attributesFrom(manifest?.changeableAttributes, what) };
}
