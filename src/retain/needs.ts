import { isDigestReleaseError } from '../errors';
import { runPool } from '../pool';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { KeepDecision } from './decide';
import type { Need } from './protection';

// What keeping a release digest means in the registry: the manifest itself, the platform
// manifests of an index (without them the index pulls nothing), and the evidence manifests that
// record its releases (without them the next run no longer knows it was released, and an auditor
// loses the record). A clean-up that may delete untagged manifests must leave all of them.

const CONCURRENCY = 8;

export interface ReleaseParts {
  /** False when the repository no longer has the digest (a rollback target deleted before). */
  readonly present: boolean;
  /** The platform manifests of an index; empty for an image. */
  readonly platforms: readonly Digest[];
}

export async function releaseParts(
  client: RegistryClient,
  repository: string,
  digests: readonly Digest[],
): Promise<Map<Digest, ReleaseParts>> {
  const parts = new Map<Digest, ReleaseParts>();
  await runPool(digests, CONCURRENCY, async (digest) => {
    try {
      const { manifest } = await client.getManifest(repository, digest);
      parts.set(digest, {
        present: true,
        platforms: manifest.kind === 'index' ? manifest.manifests.map((m) => m.digest) : [],
      });
    } catch (err) {
      if (!isDigestReleaseError(err, 'MANIFEST_UNKNOWN')) throw err;
      parts.set(digest, { present: false, platforms: [] });
    }
  });
  return parts;
}

export type ManifestRole = 'release' | 'platform' | 'evidence';

export interface NeededManifest extends Need {
  readonly digest: Digest;
  readonly roles: readonly ManifestRole[];
}

/** Every manifest the kept releases need, with the environments and releases that need it. */
export function neededManifests(
  decision: KeepDecision,
  parts: ReadonlyMap<Digest, ReleaseParts>,
): Map<Digest, NeededManifest> {
  const needed = new Map<Digest, { claims: Set<string>; releases: Set<Digest>; roles: Set<ManifestRole> }>();
  const add = (digest: Digest, role: ManifestRole, environment: string, release: Digest): void => {
    const need = needed.get(digest) ?? {
      claims: new Set<string>(),
      releases: new Set<Digest>(),
      roles: new Set<ManifestRole>(),
    };
    if (![...need.claims].some((claim) => claim.toLowerCase() === environment.toLowerCase()))
      need.claims.add(environment);
    need.releases.add(release);
    need.roles.add(role);
    needed.set(digest, need);
  };
  for (const entry of decision.keep) {
    const part = parts.get(entry.digest);
    if (part === undefined || !part.present) continue;
    add(entry.digest, 'release', entry.environment, entry.digest);
    for (const platform of part.platforms) add(platform, 'platform', entry.environment, entry.digest);
    for (const evidence of entry.manifests) add(evidence, 'evidence', entry.environment, entry.digest);
  }
  const out = new Map<Digest, NeededManifest>();
  for (const digest of [...needed.keys()].sort()) {
    const need = needed.get(digest)!;
    out.set(digest, { digest, claims: [...need.claims], releases: [...need.releases].sort(), roles: [...need.roles] });
  }
  return out;
}
