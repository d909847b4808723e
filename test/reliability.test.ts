import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COLUMNS, ROWS, cellText, reliabilityTable } from '../lab/faults';
import { ROOT } from '../lab/paths';

// The README's "Reliability" table must be the fault suite's table (lab/faults.ts), which
// test/packaged/faults.test.ts runs cell by cell: no claim in the README without a test behind it.

describe('the README Reliability table', () => {
  const readme = (): string => readFileSync(join(ROOT, 'README.md'), 'utf8');
  const tableIn = (text: string): string | undefined =>
    /## Reliability\n[\s\S]*?\n(\| fault \|[^\n]*\n(?:\|[^\n]*\n)+)/.exec(text)?.[1];

  it("is the fault suite's table, cell for cell", () => {
    const table = tableIn(readme());
    assert.ok(table, 'the README has a Reliability section with the table');
    assert.equal(
      table,
      reliabilityTable(),
      'regenerate it: node -e "process.stdout.write(require(\'./out/lab/faults.js\').reliabilityTable())"',
    );
  });

  it('would catch a cell that claims more than the suite checks', () => {
    const doctored = readme().replace(/\| fails STALLED, 2 tries, ≤ 46 s \|/, '| fails STALLED, 2 tries, ≤ 30 s |');
    assert.notEqual(tableIn(doctored), reliabilityTable());
  });

  it('every fault has a cell for some task, and every cell a bound or a retry to check', () => {
    for (const row of ROWS) {
      const cells = COLUMNS.map((c) => row.cells[c.key]).filter((cell) => cell !== undefined);
      assert.ok(cells.length > 0, row.title);
      for (const cell of cells) {
        assert.ok(
          cell.outcome === 'ok' || (cell.tries !== undefined && cell.within !== undefined),
          `${row.title}: ${cellText(cell)}`,
        );
      }
    }
  });
});
