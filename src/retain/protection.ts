import type { ChangeableAttributes } from '../acr/properties';
import type { Digest } from '../reference/digest';
import type { ProtectedManifest, ProtectionRecord } from './record';

// What protect changes, decided before anything is changed, from the manifests the kept releases
// need, their attributes as the registry reports them, and DigestRetain's record. The rules:
//   - a needed manifest whose deleteEnabled is true is protected (deleteEnabled=false, nothing
//     else) and becomes this task's; one already false stays as it is, and is this task's only if
//     the record says this task made it so;
//   - a manifest of the record whose claims are all decided by this run (its environments, or
//     every environment) and that no kept release needs any more is released (deleteEnabled=true)
//     if the releases it belongs to still carry evidence, and nobody has write-locked it since;
//   - nothing outside the record is ever re-enabled.

/** A manifest a kept release needs: the release digest itself, a platform of it, or its evidence. */
export interface Need {
  /** The environments whose kept releases need it (as the evidence names them). */
  readonly claims: readonly string[];
  /** The release digests it belongs to. */
  readonly releases: readonly Digest[];
}

/** The environments a run decides for: every claim (undefined), or these (any case). */
export type Scope = ReadonlySet<string> | undefined;

export function scopeOf(environments: readonly string[] | undefined, always: readonly string[]): Scope {
  return environments === undefined ? undefined : new Set([...environments, ...always].map((e) => e.toLowerCase()));
}

const inScope = (scope: Scope, claim: string): boolean => scope === undefined || scope.has(claim.toLowerCase());

export type Holder = 'thisTask' | 'someoneElse';

export interface ProtectPlan {
  /** Needed manifests to set deleteEnabled=false on, with their writeEnabled now. */
  readonly protect: readonly { readonly digest: Digest; readonly writeEnabled: boolean }[];
  /** Needed manifests already protected against deletion, and by whom. */
  readonly already: readonly { readonly digest: Digest; readonly holder: Holder }[];
}

/** Needed manifests the registry does not have are left out of `attributes`, and out of the plan. */
export function planProtect(
  needed: ReadonlyMap<Digest, Need>,
  attributes: ReadonlyMap<Digest, ChangeableAttributes>,
  record: ProtectionRecord,
): ProtectPlan {
  const ours = new Set(record.manifests.map((m) => m.digest));
  const protect: { digest: Digest; writeEnabled: boolean }[] = [];
  const already: { digest: Digest; holder: Holder }[] = [];
  for (const digest of needed.keys()) {
    const now = attributes.get(digest);
    if (now === undefined) continue;
    if (now.deleteEnabled) protect.push({ digest, writeEnabled: now.writeEnabled });
    else already.push({ digest, holder: ours.has(digest) ? 'thisTask' : 'someoneElse' });
  }
  return { protect, already };
}

/**
 * The record after protecting: claims of this run's scope are replaced by what this run needs,
 * claims of other environments stay, and manifests protected now join it.
 */
export function recordAfterProtect(
  record: ProtectionRecord,
  needed: ReadonlyMap<Digest, Need>,
  protectedNow: readonly { readonly digest: Digest; readonly writeEnabled: boolean }[],
  scope: Scope,
  stamp: { readonly at: string; readonly run: string | null },
): ProtectionRecord {
  const fresh = new Map(protectedNow.map((p) => [p.digest, p]));
  const manifests: ProtectedManifest[] = [];
  for (const entry of record.manifests) {
    const kept = entry.claims.filter((claim) => !inScope(scope, claim));
    const need = needed.get(entry.digest);
    const again = fresh.get(entry.digest);
    fresh.delete(entry.digest);
    manifests.push({
      ...entry,
      ...(again ? { protectedAt: stamp.at, protectedBy: stamp.run, writeEnabled: again.writeEnabled } : {}),
      claims: unionClaims(kept, need?.claims ?? []),
      releases: need ? union(kept.length > 0 ? entry.releases : [], need.releases) : entry.releases,
    });
  }
  for (const [digest, p] of fresh) {
    const need = needed.get(digest)!;
    manifests.push({
      digest,
      protectedAt: stamp.at,
      protectedBy: stamp.run,
      writeEnabled: p.writeEnabled,
      claims: [...need.claims],
      releases: [...need.releases],
    });
  }
  return { manifests };
}

export type ReleaseVerdict =
  | { readonly digest: Digest; readonly action: 'release' }
  /** Not this run's to release: other environments claim it, or its releases carry no evidence now. */
  | { readonly digest: Digest; readonly action: 'keep'; readonly why: string }
  /** Dropped from the record without a change: gone, deletable already, or write-locked by someone since. */
  | { readonly digest: Digest; readonly action: 'forget'; readonly why: string };

/**
 * What becomes of each manifest of the record that no kept release needs. `attributes` holds the
 * registry's word for the ones that are still there; `evidenced` the digests that carry evidence now.
 */
export function planRelease(
  record: ProtectionRecord,
  needed: ReadonlyMap<Digest, Need>,
  attributes: ReadonlyMap<Digest, ChangeableAttributes>,
  evidenced: ReadonlySet<Digest>,
): ReleaseVerdict[] {
  const verdicts: ReleaseVerdict[] = [];
  for (const entry of record.manifests) {
    if (needed.has(entry.digest)) continue;
    const { digest } = entry;
    if (entry.claims.length > 0) {
      verdicts.push({
        digest,
        action: 'keep',
        why: `still kept for ${entry.claims.join(', ')} (not decided by this run)`,
      });
      continue;
    }
    const now = attributes.get(digest);
    if (now === undefined) {
      verdicts.push({ digest, action: 'forget', why: 'it is no longer in the repository' });
      continue;
    }
    if (now.deleteEnabled) {
      verdicts.push({ digest, action: 'forget', why: 'its deletes were enabled again by someone else' });
      continue;
    }
    if (!now.writeEnabled && entry.writeEnabled) {
      verdicts.push({
        digest,
        action: 'forget',
        why: 'someone else write-locked it after DigestRetain protected it; their lock is left as it is',
      });
      continue;
    }
    const without = entry.releases.filter((release) => !evidenced.has(release));
    if (without.length > 0) {
      verdicts.push({
        digest,
        action: 'keep',
        why: `the release ${without.join(', ')} it was protected for carries no evidence now, so it is not released; enable its deletes by hand if that is meant`,
      });
      continue;
    }
    verdicts.push({ digest, action: 'release' });
  }
  return verdicts;
}

/** The record without the manifests released or forgotten. */
export function recordAfterRelease(record: ProtectionRecord, done: ReadonlySet<Digest>): ProtectionRecord {
  return { manifests: record.manifests.filter((m) => !done.has(m.digest)) };
}

function union<T>(a: readonly T[], b: readonly T[]): T[] {
  return [...new Set([...a, ...b])];
}

/** Environment names are compared as Azure DevOps compares them, without case. */
function unionClaims(a: readonly string[], b: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const claim of [...a, ...b]) if (!out.has(claim.toLowerCase())) out.set(claim.toLowerCase(), claim);
  return [...out.values()];
}
