import assert from 'node:assert/strict';
import type { ChangeableAttributes } from '../../src/acr/properties';
import type { Digest } from '../../src/reference/digest';
import type { KeepDecision } from '../../src/retain/decide';
import { neededManifests } from '../../src/retain/needs';
import type { Need } from '../../src/retain/protection';
import { planProtect, planRelease, recordAfterProtect, recordAfterRelease, scopeOf } from '../../src/retain/protection';
import type { ProtectedManifest, ProtectionRecord } from '../../src/retain/record';

// What protect would change, decided before anything changes: whose lock is whose, which claims a
// run may drop, and when a manifest this task protected may be released. The ACR task test runs the
// same rules against the ACR front.

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const open: ChangeableAttributes = { writeEnabled: true, deleteEnabled: true };
const protectedOnly: ChangeableAttributes = { writeEnabled: true, deleteEnabled: false };
const locked: ChangeableAttributes = { writeEnabled: false, deleteEnabled: false };
const stamp = { at: '2026-11-30T12:00:00.000Z', run: 'https://dev.azure.com/o/p/_build/results?buildId=1' };

const need = (claims: string[], releases: Digest[]): Need => ({ claims, releases });
const entry = (digest: Digest, claims: string[], overrides: Partial<ProtectedManifest> = {}): ProtectedManifest => ({
  digest,
  protectedAt: '2026-10-01T00:00:00.000Z',
  protectedBy: null,
  writeEnabled: true,
  claims,
  releases: [digest],
  ...overrides,
});

describe('DigestRetain protect: the plan', () => {
  it("protects what can be deleted, and tells its own earlier locks from anyone else's", () => {
    const needed = new Map([
      [d('1'), need(['prod'], [d('1')])],
      [d('2'), need(['prod'], [d('2')])],
      [d('3'), need(['prod'], [d('3')])],
      [d('4'), need(['prod'], [d('4')])],
    ]);
    const attributes = new Map([
      [d('1'), open],
      [d('2'), protectedOnly],
      [d('3'), locked],
    ]);
    const record: ProtectionRecord = { manifests: [entry(d('2'), ['prod'])] };
    const plan = planProtect(needed, attributes, record);
    assert.deepEqual(plan.protect, [{ digest: d('1'), writeEnabled: true }]);
    assert.deepEqual(plan.already, [
      { digest: d('2'), holder: 'thisTask' },
      { digest: d('3'), holder: 'someoneElse' },
    ]);
    // 4 is not in the repository: neither protected nor counted.
  });

  it("records what it protected now with the environments that need it, and only this run's claims change", () => {
    const record: ProtectionRecord = {
      manifests: [entry(d('2'), ['prod', 'staging']), entry(d('5'), ['prod'])],
    };
    const needed = new Map([
      [d('1'), need(['prod'], [d('1')])],
      [d('2'), need(['prod'], [d('2')])],
    ]);
    const after = recordAfterProtect(
      record,
      needed,
      [{ digest: d('1'), writeEnabled: false }],
      scopeOf(['prod'], []),
      stamp,
    );
    const byDigest = new Map(after.manifests.map((m) => [m.digest, m]));
    assert.deepEqual(byDigest.get(d('1')), {
      digest: d('1'),
      protectedAt: stamp.at,
      protectedBy: stamp.run,
      writeEnabled: false,
      claims: ['prod'],
      releases: [d('1')],
    });
    assert.deepEqual(byDigest.get(d('2'))!.claims, ['staging', 'prod'], "staging is not this run's to drop");
    assert.deepEqual(byDigest.get(d('5'))!.claims, [], 'prod no longer needs 5');
    // A run for every environment decides every claim.
    const all = recordAfterProtect(record, needed, [], scopeOf(undefined, []), stamp);
    assert.deepEqual(new Map(all.manifests.map((m) => [m.digest, m.claims])).get(d('2')), ['prod']);
  });

  it('releases only a manifest of its record that nothing claims, whose releases carry evidence, and that nobody write-locked since', () => {
    const record: ProtectionRecord = {
      manifests: [
        entry(d('1'), []), // released
        entry(d('2'), ['staging']), // another environment still keeps it
        entry(d('3'), [], { releases: [d('9')] }), // its release carries no evidence now
        entry(d('4'), []), // someone write-locked it since
        entry(d('5'), []), // someone enabled deletes again already
        entry(d('6'), []), // gone
        entry(d('7'), [], { writeEnabled: false }), // write-locked when protected: still our deleteEnabled to undo
        entry(d('8'), []), // needed again: not a candidate at all
      ],
    };
    const attributes = new Map([
      [d('1'), protectedOnly],
      [d('2'), protectedOnly],
      [d('3'), protectedOnly],
      [d('4'), locked],
      [d('5'), open],
      [d('7'), locked],
    ]);
    const verdicts = planRelease(
      record,
      new Map([[d('8'), need(['prod'], [d('8')])]]),
      attributes,
      new Set([d('1'), d('2'), d('4'), d('5'), d('6'), d('7')]),
    );
    assert.deepEqual(
      verdicts.map((v) => [v.digest.slice(7, 8), v.action]),
      [
        ['1', 'release'],
        ['2', 'keep'],
        ['3', 'keep'],
        ['4', 'forget'],
        ['5', 'forget'],
        ['6', 'forget'],
        ['7', 'release'],
      ],
    );
    const after = recordAfterRelease(record, new Set([d('1'), d('4'), d('5'), d('6'), d('7')]));
    assert.deepEqual(
      after.manifests.map((m) => m.digest),
      [d('2'), d('3'), d('8')],
    );
  });

  it('needs, for each kept release, the digest, the platforms of an index and the evidence manifests, claimed by each environment that keeps it', () => {
    const decision: KeepDecision = {
      environments: [],
      keep: [
        {
          digest: d('a'),
          environment: 'prod',
          releasedAt: stamp.at,
          reasons: ['current'],
          evidence: d('e'),
          manifests: [d('e')],
        },
        {
          digest: d('a'),
          environment: 'staging',
          releasedAt: stamp.at,
          reasons: ['withinReleases'],
          evidence: d('f'),
          manifests: [d('f')],
        },
        {
          digest: d('b'),
          environment: 'prod',
          releasedAt: null,
          reasons: ['rollbackTarget'],
          evidence: null,
          manifests: [],
        },
        {
          digest: d('c'),
          environment: 'prod',
          releasedAt: null,
          reasons: ['rollbackTarget'],
          evidence: null,
          manifests: [],
        },
      ],
      digests: [d('a'), d('b'), d('c')],
      unknownEnvironments: [],
    };
    const parts = new Map([
      [d('a'), { present: true, platforms: [d('1'), d('2')] }],
      [d('b'), { present: true, platforms: [d('2')] }],
      [d('c'), { present: false, platforms: [] }],
    ]);
    const needed = neededManifests(decision, parts);
    assert.deepEqual([...needed.keys()], [d('1'), d('2'), d('a'), d('b'), d('e'), d('f')], 'nothing of the missing c');
    assert.deepEqual(needed.get(d('a'))!.claims, ['prod', 'staging']);
    assert.deepEqual(
      needed.get(d('2'))!.releases,
      [d('a'), d('b')],
      'a platform shared by two releases belongs to both',
    );
    assert.deepEqual(needed.get(d('e'))!.roles, ['evidence']);
    assert.deepEqual(needed.get(d('e'))!.claims, ['prod']);
  });
});
