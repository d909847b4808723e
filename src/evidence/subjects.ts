import { DigestReleaseError } from '../errors';
import { Digest, isDigest } from '../reference/digest';
import { RegistryClient, pullScope } from '../registry/client';
import { describeErrors, readErrorBody } from '../registry/errorbody';

// The digests of a repository that may carry evidence: the subjects named by referrers tag-schema
// tags (`sha256-<hex>`, kept where the registry has no referrers API) and the digests the
// repository's tags point at (for registries that index referrers themselves). Untagged digests
// on a registry with the referrers API are not found this way.

/** Tags read; a repository with more is read this far and the rest named in a note. */
const MAX_TAGS = 5000;
/** Ordinary tags resolved to digests (one HEAD each). */
const MAX_TAG_LOOKUPS = 500;

export interface RepositorySubjects {
  readonly digests: readonly Digest[];
  /** What was not looked at, for the log. */
  readonly notes: readonly string[];
}

export async function repositorySubjects(client: RegistryClient, repository: string): Promise<RepositorySubjects> {
  const tags = await listTags(client, repository);
  const notes: string[] = [];
  if (tags.length >= MAX_TAGS) notes.push(`${client.registry}/${repository} has more than ${MAX_TAGS} tags; only the first ${MAX_TAGS} were looked at.`);
  const digests = new Set<Digest>();
  const ordinary: string[] = [];
  for (const tag of tags) {
    const subject = tag.replace(/^sha256-/, 'sha256:');
    if (tag.startsWith('sha256-') && isDigest(subject)) digests.add(subject);
    else ordinary.push(tag);
  }
  if (ordinary.length > MAX_TAG_LOOKUPS) notes.push(`${ordinary.length} tags; the digests of only ${MAX_TAG_LOOKUPS} were resolved.`);
  for (const tag of ordinary.slice(0, MAX_TAG_LOOKUPS)) {
    const head = await client.headManifest(repository, tag);
    if (head !== undefined) digests.add(head.digest);
  }
  return { digests: [...digests], notes };
}

async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
  while (path !== undefined && tags.length < MAX_TAGS) {
    const response = await client.request({ method: 'GET', path, scope: pullScope(repository) });
    if (response.status === 404) {
      await response.body?.cancel();
      return tags;
    }
    if (!response.ok) {
      const detail = describeErrors(await readErrorBody(response));
      throw new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered ${response.status} to the tag list of ${repository}${detail ? ` (${detail})` : ''}.`, {
        status: response.status,
      });
    }
    const body: unknown = await response.json();
    const list = typeof body === 'object' && body !== null ? Reflect.get(body, 'tags') : undefined;
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered the tag list of ${repository} without a "tags" list.`);
    }
    for (const tag of list ?? []) if (typeof tag === 'string') tags.push(tag);
    path = nextLink(response.headers.get('link'), path);
  }
  return tags.slice(0, MAX_TAGS);
}

/** The next page of a `Link: <...>; rel="next"` header, as a path on the registry. */
function nextLink(link: string | null, current: string): string | undefined {
  if (!link) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!match) return undefined;
  const next = new URL(match[1]!, `https://registry${current}`);
  return `${next.pathname}${next.search}`;
}
