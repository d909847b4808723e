import type { Digest } from '../reference/digest';
import type { KeepDecision, RetentionPolicy } from './decide';
import type { NeededManifest } from './needs';
import type { ProtectOutcome } from './protect';

// The keep list DigestRetain writes (KEEP_LIST_PATH): what a clean-up must leave, and why, for a
// script or a person. `keep` answers "which digests, for which environment, since when and why";
// `manifests` lists every manifest that keeping them takes (platforms of an index, evidence);
// `environments` is the inventory per environment; `problems` the evidence that could not be read.

export const KEEP_LIST_SCHEMA = 'https://digest-release.dev/retain/keep-list/v1';

export interface KeepListFacts {
  readonly registry: string;
  readonly repository: string;
  readonly decidedAt: string;
  readonly policy: RetentionPolicy;
  readonly action: 'report' | 'protect';
  readonly decision: KeepDecision;
  readonly needed: ReadonlyMap<Digest, NeededManifest>;
  /** Kept digests the repository does not have. */
  readonly missing: readonly Digest[];
  readonly problems: readonly { readonly digest: Digest; readonly manifest: Digest; readonly message: string }[];
  /** How the digests were found, and whether an untagged one could have been missed. */
  readonly discovery: { readonly source: string; readonly complete: boolean; readonly subjects: number };
  readonly protection?: ProtectOutcome;
}

export function keepListDocument(facts: KeepListFacts): unknown {
  const { decision, protection } = facts;
  return {
    schema: KEEP_LIST_SCHEMA,
    registry: facts.registry,
    repository: facts.repository,
    decidedAt: facts.decidedAt,
    action: facts.action,
    policy: {
      environments: facts.policy.environments ?? null,
      keepReleases: facts.policy.keepReleases,
      keepDays: facts.policy.keepDays,
      keepRollbackTargets: facts.policy.keepRollbackTargets,
    },
    discovery: facts.discovery,
    keepCount: decision.digests.length,
    digests: decision.digests,
    keep: decision.keep.map((entry) => ({
      digest: entry.digest,
      environment: entry.environment,
      releasedAt: entry.releasedAt,
      reasons: entry.reasons,
      evidence: entry.evidence,
      present: !facts.missing.includes(entry.digest),
    })),
    manifests: [...facts.needed.values()].map((m) => ({
      digest: m.digest,
      roles: m.roles,
      releases: m.releases,
      environments: m.claims,
    })),
    environments: decision.environments.map((env) => ({
      environment: env.environment,
      current: env.current,
      rollbackTarget: env.rollbackTarget,
      releases: env.released.map((row) => ({
        digest: row.digest,
        releasedAt: row.releasedAt,
        ageDays: row.ageDays,
        times: row.times,
        scanStatus: row.scanStatus,
        evidence: row.evidence,
        rollbackDigest: row.rollbackDigest,
        kept: row.reasons.length > 0,
        reasons: row.reasons,
        rollbackTargetOf: row.rollbackTargetOf,
      })),
      rollbackTargetsNotReleasedHere: env.targetsOnly,
    })),
    unknownEnvironments: decision.unknownEnvironments,
    missing: facts.missing,
    problems: facts.problems,
    protection:
      protection === undefined
        ? null
        : {
            protectedNow: protection.protectedNow,
            alreadyProtected: protection.already,
            missing: protection.missing,
            released: protection.released,
            heldForOthers: protection.held,
            forgotten: protection.forgotten,
            record: protection.record ?? null,
          },
  };
}
