import assert from 'node:assert/strict';
import type { FoundEvidence } from '../../src/evidence/find';
import type { ReadEvidence } from '../../src/evidence/parse';
import type { ScanStatus } from '../../src/evidence/predicate';
import { chooseRollback } from '../../src/evidence/rollback';
import type { Digest } from '../../src/reference/digest';

const digest = (c: string) => `sha256:${c.repeat(64)}` as Digest;

function found(subject: string, scanStatus: ScanStatus, writtenAt: string): FoundEvidence {
  const evidence: ReadEvidence = {
    digest: digest(subject === 'a' ? 'e' : subject === 'b' ? 'f' : '0'),
    bytes: new Uint8Array(),
    subjectDigest: digest(subject),
    registry: 'r.example',
    repository: 'app',
    environment: 'prod',
    scanStatus,
    lockState: 'locked',
    writtenAt,
    rollbackDigest: null,
  };
  return { manifest: digest('9'), evidence };
}

describe('rollback auto: which earlier release', () => {
  it('prefers the latest release whose scan passed and names the newer ones it skipped', () => {
    const older = found('a', 'passed', '2025-03-01T00:00:00.000Z');
    const failed = found('b', 'failed', '2025-03-02T00:00:00.000Z');
    const unknown = found('c', 'unknown', '2025-03-03T00:00:00.000Z');
    const { chosen, skipped, nonePassed } = chooseRollback([older, failed, unknown]);
    assert.equal(chosen, older);
    assert.deepEqual(skipped, [unknown, failed]);
    assert.equal(nonePassed, false);
  });

  it('takes the latest when it passed, skipping nothing', () => {
    const older = found('a', 'passed', '2025-03-01T00:00:00.000Z');
    const newer = found('b', 'passed', '2025-03-02T00:00:00.000Z');
    assert.deepEqual(chooseRollback([older, newer]), { chosen: newer, skipped: [], nonePassed: false });
  });

  it('falls back to the latest, and says so, when no release passed its scan', () => {
    const older = found('a', 'unknown', '2025-03-01T00:00:00.000Z');
    const newer = found('b', 'warned', '2025-03-02T00:00:00.000Z');
    assert.deepEqual(chooseRollback([older, newer]), { chosen: newer, skipped: [], nonePassed: true });
  });

  it('finds nothing in nothing', () => {
    assert.deepEqual(chooseRollback([]), { chosen: undefined, skipped: [], nonePassed: false });
  });
});
