import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../lab/paths';

// lab/ is what tests, benchmarks and the demo run against (lab/README.md): it must never reach a
// task bundle, so nothing esbuild bundles from src/ may import it, or import a test.

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('lab code is never shipped', () => {
  it('no file in src/ imports from lab/ or test/', () => {
    const offending: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*)'([^']+)'/g)) {
        const target = join(file, '..', match[1]!);
        const top = relative(ROOT, target).split(/[\\/]/)[0];
        if (match[1]!.startsWith('.') && (top === 'lab' || top === 'test'))
          offending.push(`${relative(ROOT, file)} imports ${match[1]}`);
      }
    }
    assert.deepEqual(offending, []);
  });
});
