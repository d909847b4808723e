import assert from 'node:assert/strict';
import type { Digest } from '../../src/reference/digest';
import type { KeepDecision, Release, RetentionPolicy } from '../../src/retain/decide';
import { NO_ENVIRONMENT, UNREADABLE, decideKeep } from '../../src/retain/decide';

// The keep decision alone: count, days, rollback targets and environments, on releases written out
// by hand. The task tests run the same decision on evidence DigestEvidence@1 wrote.

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const NOW = new Date('2026-11-30T12:00:00.000Z');
const daysAgo = (days: number): string => new Date(NOW.getTime() - days * 24 * 60 * 60 * 1000).toISOString();

let evidenceCounter = 0;
function release(digest: string, environment: string | null, age: number, rollback?: string): Release {
  evidenceCounter++;
  const hex = evidenceCounter.toString(16).padStart(64, 'e');
  return {
    digest: d(digest),
    environment,
    releasedAt: daysAgo(age),
    evidence: `sha256:${hex}` as Digest,
    manifest: `sha256:${hex.replace(/e/g, 'f')}` as Digest,
    scanStatus: 'passed',
    rollbackDigest: rollback === undefined ? null : d(rollback),
  };
}

const policy = (overrides: Partial<RetentionPolicy> = {}): RetentionPolicy => ({
  keepReleases: 3,
  keepDays: 60,
  keepRollbackTargets: true,
  ...overrides,
});

function kept(decision: KeepDecision, environment: string): Record<string, string[]> {
  return Object.fromEntries(
    decision.keep.filter((e) => e.environment === environment).map((e) => [e.digest.slice(7, 8), [...e.reasons]]),
  );
}

describe('DigestRetain: the keep decision', () => {
  // prod: 1 (200 days) -> 2 (100) -> 3 (90) -> 4 (70) -> 5 (10, current); each names the one before as its rollback.
  const prod = [
    release('1', 'prod', 200),
    release('2', 'prod', 100, '1'),
    release('3', 'prod', 90, '2'),
    release('4', 'prod', 70, '3'),
    release('5', 'prod', 10, '4'),
  ];

  it('keeps the current release and the last N by count, newest first', () => {
    const decision = decideKeep(prod, [], policy({ keepDays: 0, keepRollbackTargets: false }), NOW);
    assert.deepEqual(kept(decision, 'prod'), { '5': ['current'], '4': ['withinReleases'], '3': ['withinReleases'] });
    assert.deepEqual(decision.digests, [d('3'), d('4'), d('5')]);
    const env = decision.environments[0]!;
    assert.equal(env.current, d('5'));
    assert.deepEqual(
      env.released.map((r) => r.digest),
      [d('5'), d('4'), d('3'), d('2'), d('1')],
    );
    assert.deepEqual(
      env.released.map((r) => r.reasons.length > 0),
      [true, true, true, false, false],
    );
  });

  it('keeps every release younger than keepDays, however many came after it; 0 keeps by count only', () => {
    const decision = decideKeep(prod, [], policy({ keepReleases: 1, keepDays: 95, keepRollbackTargets: false }), NOW);
    assert.deepEqual(kept(decision, 'prod'), {
      '5': ['current', 'withinDays'],
      '4': ['withinDays'],
      '3': ['withinDays'],
    });
    assert.deepEqual(
      Object.keys(
        kept(decideKeep(prod, [], policy({ keepReleases: 1, keepDays: 0, keepRollbackTargets: false }), NOW), 'prod'),
      ),
      ['5'],
    );
  });

  it('keeps the rollback target a kept release names, even one older than the window, and says whose target it is', () => {
    const decision = decideKeep(prod, [], policy({ keepReleases: 2, keepDays: 0 }), NOW);
    // 5 and 4 by count; 4's evidence names 3, 5's names 4: 3 is kept as a target, 2 (named by 3, not kept for itself) is not.
    assert.deepEqual(kept(decision, 'prod'), {
      '5': ['current'],
      '4': ['withinReleases', 'rollbackTarget'],
      '3': ['rollbackTarget'],
    });
    const rows = decision.environments[0]!.released;
    assert.deepEqual(rows.find((r) => r.digest === d('3'))!.rollbackTargetOf, [d('4')]);
    assert.equal(
      decision.environments[0]!.rollbackTarget,
      d('4'),
      'what a rollback goes to: what the current evidence names',
    );
  });

  it('without keepRollbackTargets, a target outside the window goes', () => {
    const decision = decideKeep(prod, [], policy({ keepReleases: 1, keepDays: 0, keepRollbackTargets: false }), NOW);
    assert.deepEqual(kept(decision, 'prod'), { '5': ['current'] });
  });

  it('keeps a rollback target never released to the environment (a given rollbackDigest), with no release time', () => {
    const decision = decideKeep([release('a', 'prod', 5, '9')], [], policy(), NOW);
    const target = decision.keep.find((e) => e.digest === d('9'))!;
    assert.deepEqual(
      { ...target, manifests: [...target.manifests] },
      {
        digest: d('9'),
        environment: 'prod',
        releasedAt: null,
        reasons: ['rollbackTarget'],
        evidence: null,
        manifests: [],
      },
    );
    assert.deepEqual(decision.environments[0]!.targetsOnly, [{ digest: d('9'), rollbackTargetOf: [d('a')] }]);
  });

  it('counts a digest released again (a rollback recorded) once, at its latest release, and names every target its evidence there gave', () => {
    // 1 released, then 2 (rollback 1), then back to 1 (rollback 2): 1 is current again.
    const releases = [release('1', 'prod', 30), release('2', 'prod', 20, '1'), release('1', 'prod', 1, '2')];
    const decision = decideKeep(releases, [], policy({ keepReleases: 1, keepDays: 0 }), NOW);
    const env = decision.environments[0]!;
    assert.equal(env.current, d('1'));
    assert.deepEqual(
      env.released.map((r) => [r.digest, r.times]),
      [
        [d('1'), 2],
        [d('2'), 1],
      ],
    );
    assert.equal(env.released[0]!.manifests.length, 2, 'both evidence manifests of 1 in prod');
    assert.deepEqual(kept(decision, 'prod'), { '1': ['current'], '2': ['rollbackTarget'] });
  });

  it('decides per environment: each keeps its own, and a digest kept by two is listed for each', () => {
    const releases = [
      ...prod,
      release('5', 'staging', 12),
      release('6', 'staging', 2, '5'),
      release('7', 'staging', 1, '6'),
    ];
    const decision = decideKeep(releases, [], policy({ keepReleases: 1, keepDays: 0 }), NOW);
    assert.deepEqual(
      decision.environments.map((e) => e.environment),
      ['prod', 'staging'],
    );
    assert.deepEqual(kept(decision, 'prod'), { '5': ['current'], '4': ['rollbackTarget'] });
    assert.deepEqual(kept(decision, 'staging'), { '7': ['current'], '6': ['rollbackTarget'] });
    assert.deepEqual(decision.digests, [d('4'), d('5'), d('6'), d('7')]);
  });

  it('decides only for the environments named, matching them without case, and names those without evidence', () => {
    const releases = [...prod, release('7', 'Staging', 1)];
    const decision = decideKeep(
      releases,
      [],
      policy({ keepReleases: 1, keepDays: 0, environments: ['STAGING', 'qa', 'staging'] }),
      NOW,
    );
    assert.deepEqual(
      decision.environments.map((e) => e.environment),
      ['Staging'],
    );
    assert.deepEqual(decision.digests, [d('7')]);
    assert.deepEqual(decision.unknownEnvironments, ['qa']);
  });

  it('groups evidence recorded without an environment on its own, last, when every environment is decided', () => {
    const decision = decideKeep([release('1', null, 400), release('2', 'prod', 400)], [], policy({ keepDays: 1 }), NOW);
    assert.deepEqual(
      decision.environments.map((e) => e.environment),
      ['prod', NO_ENVIRONMENT],
    );
    assert.deepEqual(decision.digests, [d('1'), d('2')]);
    assert.deepEqual(decideKeep([release('1', null, 400)], [], policy({ environments: ['prod'] }), NOW).digests, []);
  });

  it('keeps a digest whose evidence cannot be read: it may be a release', () => {
    const decision = decideKeep(
      [],
      [{ digest: d('b'), message: 'The evidence ... is malformed' }],
      policy({ environments: ['prod'] }),
      NOW,
    );
    assert.deepEqual(decision.keep, [
      {
        digest: d('b'),
        environment: UNREADABLE,
        releasedAt: null,
        reasons: ['evidenceUnreadable'],
        evidence: null,
        manifests: [],
      },
    ]);
  });

  it('orders equal release times by digest, so the listing order of the registry never changes the decision', () => {
    const same = [release('2', 'prod', 3), release('1', 'prod', 3)];
    const a = decideKeep(same, [], policy({ keepReleases: 1, keepDays: 0 }), NOW);
    const b = decideKeep([...same].reverse(), [], policy({ keepReleases: 1, keepDays: 0 }), NOW);
    assert.deepEqual(a.digests, b.digests);
    assert.equal(a.environments[0]!.current, d('1'));
  });

  it('takes a release written in the future (a clock ahead) as age 0 and keeps it as current', () => {
    const decision = decideKeep([release('1', 'prod', -2)], [], policy(), NOW);
    assert.equal(decision.environments[0]!.released[0]!.ageDays, 0);
    assert.deepEqual(kept(decision, 'prod'), { '1': ['current', 'withinDays'] });
  });

  it('refuses a policy that would keep nothing or count backwards', () => {
    assert.throws(() => decideKeep(prod, [], policy({ keepReleases: 0 }), NOW), /keepReleases/);
    assert.throws(() => decideKeep(prod, [], policy({ keepDays: -1 }), NOW), /keepDays/);
  });
});
