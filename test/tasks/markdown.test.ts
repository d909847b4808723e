import assert from 'node:assert/strict';
import { inlineCode, keyValueTable, markdownTable } from '../../src/tasks/markdown';

// Build-summary tables: a value never breaks its cell or its row.

describe('build summary tables', () => {
  it('escapes | and line breaks in every cell, keys and headers too', () => {
    assert.equal(keyValueTable([['a|b', 'one\ntwo|three']]), '| | |\n|---|---|\n| a\\|b | one two\\|three |\n');
    assert.equal(
      markdownTable(['Where', 'What|'], [['f:1', 'x\r\ny']]),
      '| Where | What\\| |\n|---|---|\n| f:1 | x y |\n',
    );
  });

  it('a value shown as code cannot end its code span', () => {
    assert.equal(inlineCode('repo:`1`'), "`repo:'1'`");
  });
});
