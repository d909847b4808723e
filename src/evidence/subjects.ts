import { isAcr } from '../acr/detect';
import type { ListedManifest } from '../acr/properties';
import { listManifestProperties } from '../acr/properties';
import { isDigestReleaseError, messageOf } from '../errors';
import type { Digest } from '../reference/digest';
import { isDigest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { ReferrerSource } from '../registry/referrers';
import { hasReferrersApi } from '../registry/referrers';
import { listTags } from '../registry/tag-list';

// The digests of a repository that may carry evidence, found the cheapest complete way the
// registry allows:
//   - Azure Container Registry lists every manifest of a repository, tagged or not, with its lock
//     attributes (/acr/v1/<repository>/_manifests): all of them are looked at, so a release whose
//     tag was deleted or moved is still found.
//   - A registry without the referrers API keeps referrers under the tag schema: every digest that
//     has any is named by a `sha256-<hex>` tag, and no other digest needs looking at.
//   - Any other registry (the referrers API, no manifest listing): the digests the repository's tags
//     point at, one HEAD each. An untagged digest is not found this way (`complete` is false).

/** Tags looked at; a repository with more is looked at this far and the rest named in a note. */
const MAX_TAGS = 5000;
/** Ordinary tags resolved to digests (one HEAD each). */
const MAX_TAG_LOOKUPS = 500;
/** Any digest: the ACR probe (acr/detect.ts) signs in before it looks the digest up. */
const PROBE_DIGEST = `sha256:${'0'.repeat(64)}` as Digest;

export type SubjectSource = 'acrListing' | 'tagSchema' | 'tags';

export interface RepositorySubjects {
  readonly digests: readonly Digest[];
  /** How they were found. */
  readonly source: SubjectSource;
  /** How to read their referrers: straight from the tag schema when the registry has no API. */
  readonly referrers: ReferrerSource;
  /** ACR's listing, with every manifest's lock attributes, when that is how they were found. */
  readonly listing?: readonly ListedManifest[];
  /** False when an untagged digest with evidence could have been missed (source `tags`). */
  readonly complete: boolean;
  /** What was not looked at, for the log. */
  readonly notes: readonly string[];
}

export async function repositorySubjects(client: RegistryClient, repository: string): Promise<RepositorySubjects> {
  const notes: string[] = [];
  if (await isAcr(client, repository, PROBE_DIGEST)) {
    try {
      const listing = await listManifestProperties(client, repository);
      return {
        digests: listing.map((m) => m.digest),
        source: 'acrListing',
        referrers: 'auto',
        listing,
        complete: true,
        notes,
      };
    } catch (err) {
      if (isDigestReleaseError(err, 'NAME_UNKNOWN'))
        return { digests: [], source: 'acrListing', referrers: 'auto', listing: [], complete: true, notes };
      if (!isDigestReleaseError(err, 'DENIED') && !isDigestReleaseError(err, 'UNAUTHORIZED')) throw err;
      notes.push(
        `The manifests of ${client.registry}/${repository} could not be listed (${messageOf(err)}), so only the digests its tags point at were looked at; a release whose tag is gone is not found. ` +
          'Listing needs the metadata_read permission (see the task documentation for the roles).',
      );
    }
  }
  const all = await listTags(client, repository);
  if (all.length > MAX_TAGS)
    notes.push(`${client.registry}/${repository} has ${all.length} tags; only the first ${MAX_TAGS} were looked at.`);
  const tags = all.slice(0, MAX_TAGS);
  const digests = new Set<Digest>();
  const ordinary: string[] = [];
  for (const tag of tags) {
    const subject = tag.replace(/^sha256-/, 'sha256:');
    if (tag.startsWith('sha256-') && isDigest(subject)) digests.add(subject);
    else ordinary.push(tag);
  }
  if (tags.length > 0 && !(await referrersApiOrUnknown(client, repository))) {
    return { digests: [...digests], source: 'tagSchema', referrers: 'tagSchema', complete: notes.length === 0, notes };
  }
  if (ordinary.length > MAX_TAG_LOOKUPS)
    notes.push(`${ordinary.length} tags; the digests of only ${MAX_TAG_LOOKUPS} were resolved.`);
  for (const tag of ordinary.slice(0, MAX_TAG_LOOKUPS)) {
    const head = await client.headManifest(repository, tag);
    if (head !== undefined) digests.add(head.digest);
  }
  return { digests: [...digests], source: 'tags', referrers: 'auto', complete: false, notes };
}

/** Whether the registry has the referrers API; when the probe answers neither way, it is assumed to (the path that misses nothing tagged). */
async function referrersApiOrUnknown(client: RegistryClient, repository: string): Promise<boolean> {
  try {
    return await hasReferrersApi(client, repository);
  } catch (err) {
    if (isDigestReleaseError(err)) return true;
    throw err;
  }
}
