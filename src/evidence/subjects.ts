import { Digest, isDigest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { listTags } from '../registry/tags';

// The digests of a repository that may carry evidence: the subjects named by referrers tag-schema
// tags (`sha256-<hex>`, kept where the registry has no referrers API) and the digests the
// repository's tags point at (for registries that index referrers themselves). Untagged digests
// on a registry with the referrers API are not found this way.

/** Tags looked at; a repository with more is looked at this far and the rest named in a note. */
const MAX_TAGS = 5000;
/** Ordinary tags resolved to digests (one HEAD each). */
const MAX_TAG_LOOKUPS = 500;

export interface RepositorySubjects {
  readonly digests: readonly Digest[];
  /** What was not looked at, for the log. */
  readonly notes: readonly string[];
}

export async function repositorySubjects(client: RegistryClient, repository: string): Promise<RepositorySubjects> {
  const all = await listTags(client, repository);
  const notes: string[] = [];
  if (all.length > MAX_TAGS) notes.push(`${client.registry}/${repository} has ${all.length} tags; only the first ${MAX_TAGS} were looked at.`);
  const tags = all.slice(0, MAX_TAGS);
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
