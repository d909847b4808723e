import assert from 'node:assert/strict';
import type { BatchPlan } from '../../../src/pin/batch';
import { pinSummary } from '../../../src/tasks/DigestPin/summary';

// DigestPin's build summary: a pass claims only the rules that were set.

describe('DigestPin summary', () => {
  it('a passing check claims allowed registries only when an allowedRegistries rule is set', () => {
    const plan: BatchPlan = { files: [], unmatched: [], errors: [], warnings: [], changedFiles: [], pinnedCount: 0 };
    assert.ok(!pinSummary(plan, 'check', false).includes('allowed registries'));
    assert.ok(pinSummary(plan, 'check', true).includes('and from allowed registries'));
  });
});
