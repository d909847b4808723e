import assert from 'node:assert/strict';
import { BatchPlan } from '../../src/pin/batch';
import { pinSummary } from '../../src/tasks/DigestPin/summary';
import { keyValueTable, markdownTable } from '../../src/tasks/markdown';

// Build-summary tables: a value never breaks its cell or its row, and a pass claims only the rules set.

describe('build summary tables', () => {
  it('escapes | and line breaks in every cell, keys and headers too', () => {
    assert.equal(keyValueTable([['a|b', 'one\ntwo|three']]), '| | |\n|---|---|\n| a\\|b | one two\\|three |\n');
    assert.equal(markdownTable(['Where', 'What|'], [['f:1', 'x\r\ny']]), '| Where | What\\| |\n|---|---|\n| f:1 | x y |\n');
  });

  it('a passing check claims allowed registries only when an allowedRegistries rule is set', () => {
    const plan: BatchPlan = { files: [], unmatched: [], errors: [], warnings: [], changedFiles: [], pinnedCount: 0 };
    assert.ok(!pinSummary(plan, 'check', false).includes('allowed registries'));
    assert.ok(pinSummary(plan, 'check', true).includes('and from allowed registries'));
  });
});
