import type { ScanStatus } from '../evidence/predicate';
import type { Digest } from '../reference/digest';

// The keep decision, from the releases the evidence records and nothing else: per environment, the
// current release, the last N releases, the releases younger than D days, and every rollback digest
// that the evidence of a kept release names. A digest whose evidence cannot be read is kept too: it
// may be a release, and a clean-up cannot be trusted with what we cannot read. Pure: the time is given.

export const KEEP_REASONS = [
  'current',
  'withinReleases',
  'withinDays',
  'rollbackTarget',
  'evidenceUnreadable',
] as const;
export type KeepReason = (typeof KEEP_REASONS)[number];

/** The group of evidence recorded without an environment. */
export const NO_ENVIRONMENT = '(no environment)';
/** The group of digests whose evidence cannot be read. */
export const UNREADABLE = '(unreadable evidence)';

const DAY_MS = 24 * 60 * 60 * 1000;

/** One evidence record: a digest released to an environment at a time. */
export interface Release {
  readonly digest: Digest;
  /** null when the evidence names none. */
  readonly environment: string | null;
  /** The evidence's writtenAt: when it was released. */
  readonly releasedAt: string;
  /** The evidence statement's digest (EVIDENCE_DIGEST). */
  readonly evidence: Digest;
  /** The evidence manifest (the referrer) in the registry. */
  readonly manifest: Digest;
  readonly scanStatus: ScanStatus;
  readonly rollbackDigest: Digest | null;
}

export interface Unreadable {
  readonly digest: Digest;
  readonly message: string;
}

export interface RetentionPolicy {
  /** The environments to decide for (any case), or undefined for every environment found. */
  readonly environments?: readonly string[];
  /** Releases kept per environment, the current one included; at least 1. */
  readonly keepReleases: number;
  /** Releases younger than this many days are kept; 0 keeps by count only. */
  readonly keepDays: number;
  readonly keepRollbackTargets: boolean;
}

/** A digest released to one environment, with all its releases there. */
export interface ReleasedDigest {
  readonly digest: Digest;
  /** Its latest release to the environment. */
  readonly releasedAt: string;
  readonly ageDays: number;
  /** How many times it was released there (evidence records). */
  readonly times: number;
  /** Its latest evidence there. */
  readonly evidence: Digest;
  readonly scanStatus: ScanStatus;
  /** The rollback digest its latest evidence names. */
  readonly rollbackDigest: Digest | null;
  /** Why it is kept; empty when it is not. */
  readonly reasons: readonly KeepReason[];
  /** The kept releases whose evidence names it as the rollback target. */
  readonly rollbackTargetOf: readonly Digest[];
  /** Every evidence manifest of it for this environment. */
  readonly manifests: readonly Digest[];
}

/** A rollback target kept for an environment it was never released to (by the evidence found). */
export interface TargetOnly {
  readonly digest: Digest;
  readonly rollbackTargetOf: readonly Digest[];
}

export interface EnvironmentInventory {
  /** As the latest evidence spells it; NO_ENVIRONMENT for evidence without one. */
  readonly environment: string;
  readonly current: Digest;
  /** What a rollback would go to: the rollback digest the current release's latest evidence names. */
  readonly rollbackTarget: Digest | null;
  /** Newest first. */
  readonly released: readonly ReleasedDigest[];
  readonly targetsOnly: readonly TargetOnly[];
}

export interface KeepEntry {
  readonly digest: Digest;
  /** The environment it is kept for; UNREADABLE for a digest whose evidence cannot be read. */
  readonly environment: string;
  /** Its latest release there; null for a rollback target never released there, or unreadable evidence. */
  readonly releasedAt: string | null;
  readonly reasons: readonly KeepReason[];
  /** Its latest evidence there, if any. */
  readonly evidence: Digest | null;
  /** The evidence manifests that record its releases there. */
  readonly manifests: readonly Digest[];
}

export interface KeepDecision {
  readonly environments: readonly EnvironmentInventory[];
  /** One entry per digest and environment it is kept for. */
  readonly keep: readonly KeepEntry[];
  /** The distinct digests kept, sorted. */
  readonly digests: readonly Digest[];
  /** Environments the policy names that no evidence names. */
  readonly unknownEnvironments: readonly string[];
}

const key = (environment: string): string => environment.toLowerCase();

/** Newest first; equal times by digest, so the order never depends on how the evidence was listed. */
function newestFirst(a: { releasedAt: string; digest: string }, b: { releasedAt: string; digest: string }): number {
  return (
    Date.parse(b.releasedAt) - Date.parse(a.releasedAt) || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)
  );
}

export function decideKeep(
  releases: readonly Release[],
  unreadable: readonly Unreadable[],
  policy: RetentionPolicy,
  now: Date,
): KeepDecision {
  if (!Number.isSafeInteger(policy.keepReleases) || policy.keepReleases < 1)
    throw new RangeError(`keepReleases must be a whole number of at least 1, not ${policy.keepReleases}`);
  if (!Number.isSafeInteger(policy.keepDays) || policy.keepDays < 0)
    throw new RangeError(`keepDays must be a whole number of at least 0, not ${policy.keepDays}`);

  const groups = new Map<string, Release[]>();
  for (const release of releases) {
    const name = release.environment ?? NO_ENVIRONMENT;
    const list = groups.get(key(name)) ?? [];
    list.push(release);
    groups.set(key(name), list);
  }
  const wanted = policy.environments?.map(key);
  const chosen =
    wanted === undefined ? [...groups.keys()].sort(byName) : [...new Set(wanted)].filter((name) => groups.has(name));
  const unknownEnvironments =
    policy.environments === undefined
      ? []
      : policy.environments.filter((name, i) => !groups.has(key(name)) && wanted!.indexOf(key(name)) === i);

  const environments = chosen.map((name) => inventoryOf(groups.get(name)!, policy, now));
  const keep: KeepEntry[] = [];
  for (const inventory of environments) {
    for (const row of inventory.released) {
      if (row.reasons.length === 0) continue;
      keep.push({
        digest: row.digest,
        environment: inventory.environment,
        releasedAt: row.releasedAt,
        reasons: row.reasons,
        evidence: row.evidence,
        manifests: row.manifests,
      });
    }
    for (const target of inventory.targetsOnly) {
      keep.push({
        digest: target.digest,
        environment: inventory.environment,
        releasedAt: null,
        reasons: ['rollbackTarget'],
        evidence: null,
        manifests: [],
      });
    }
  }
  const unreadableDigests = [...new Set(unreadable.map((u) => u.digest))].sort();
  for (const digest of unreadableDigests)
    keep.push({
      digest,
      environment: UNREADABLE,
      releasedAt: null,
      reasons: ['evidenceUnreadable'],
      evidence: null,
      manifests: [],
    });
  const digests = [...new Set(keep.map((entry) => entry.digest))].sort();
  return { environments, keep, digests, unknownEnvironments };
}

/** Environments by name, the group without one last. */
function byName(a: string, b: string): number {
  if (a === key(NO_ENVIRONMENT)) return 1;
  if (b === key(NO_ENVIRONMENT)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Row {
  digest: Digest;
  all: Release[];
  latest: Release;
  reasons: KeepReason[];
  rollbackTargetOf: Digest[];
}

function inventoryOf(releases: readonly Release[], policy: RetentionPolicy, now: Date): EnvironmentInventory {
  const sorted = [...releases].sort((a, b) => newestFirst(a, b) || (a.evidence < b.evidence ? -1 : 1));
  const rows = new Map<Digest, Row>();
  for (const release of sorted) {
    const row = rows.get(release.digest);
    if (row) row.all.push(release);
    else
      rows.set(release.digest, {
        digest: release.digest,
        all: [release],
        latest: release,
        reasons: [],
        rollbackTargetOf: [],
      });
  }
  const ordered = [...rows.values()];
  const windowStart = now.getTime() - policy.keepDays * DAY_MS;
  ordered.forEach((row, index) => {
    if (index === 0) row.reasons.push('current');
    else if (index < policy.keepReleases) row.reasons.push('withinReleases');
    if (policy.keepDays > 0 && Date.parse(row.latest.releasedAt) > windowStart) row.reasons.push('withinDays');
  });

  const targetsOnly = new Map<Digest, Digest[]>();
  if (policy.keepRollbackTargets) {
    // One level: the targets named by releases kept for themselves, not by targets kept for them.
    for (const row of ordered.filter((r) => r.reasons.length > 0)) {
      for (const target of new Set(
        row.all.map((r) => r.rollbackDigest).filter((d): d is Digest => d !== null && d !== row.digest),
      )) {
        const released = rows.get(target);
        if (released) {
          if (!released.reasons.includes('rollbackTarget')) released.reasons.push('rollbackTarget');
          released.rollbackTargetOf.push(row.digest);
        } else {
          targetsOnly.set(target, [...(targetsOnly.get(target) ?? []), row.digest]);
        }
      }
    }
  }

  const current = ordered[0]!;
  return {
    environment: current.latest.environment ?? NO_ENVIRONMENT,
    current: current.digest,
    rollbackTarget: current.latest.rollbackDigest,
    released: ordered.map((row) => ({
      digest: row.digest,
      releasedAt: row.latest.releasedAt,
      ageDays: Math.max(0, Math.floor((now.getTime() - Date.parse(row.latest.releasedAt)) / DAY_MS)),
      times: row.all.length,
      evidence: row.latest.evidence,
      scanStatus: row.latest.scanStatus,
      rollbackDigest: row.latest.rollbackDigest,
      reasons: KEEP_REASONS.filter((reason) => row.reasons.includes(reason)),
      rollbackTargetOf: row.rollbackTargetOf,
      manifests: [...new Set(row.all.map((r) => r.manifest))],
    })),
    targetsOnly: [...targetsOnly].map(([digest, of]) => ({ digest, rollbackTargetOf: of })),
  };
}
