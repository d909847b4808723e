import assert from 'node:assert/strict';
import { runDemo } from '../scripts/demo';

// `npm run demo` is the main job a newcomer runs on a fresh machine; a change that breaks one of its
// steps (a task that now refuses what the demo hands it) fails here, not in front of that newcomer.

describe('npm run demo (scripts/demo.ts)', function () {
  this.timeout(300_000);

  it('runs every step as expected: capture, pin, promote, evidence, lock, a refused push, rollback, retain', async () => {
    const lines: string[] = [];
    const failed = await runDemo({ print: (line) => lines.push(line) });
    assert.deepEqual(failed, [], lines.join('\n'));
    assert.ok(
      lines.some((line) => line.includes('Rolled back to')),
      lines.join('\n'),
    );
  });
});
