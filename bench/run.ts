import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main as capture } from './capture';
import { main as pin } from './pin';
import { main as promote } from './promote';
import { main as retain } from './retain';
import { main as startup } from './startup';

// npm run bench [-- capture|startup|pin|promote|retain ...]: the benchmarks named, else all, one after the other.
// Each prints ratios against a peer measured in the same run; nothing here asserts.

const BENCHMARKS: Record<string, () => void | Promise<void>> = { capture, startup, pin, promote, retain };

async function run(names: string[]): Promise<void> {
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0)
    throw new Error(`unknown benchmark ${unknown.join(', ')}: choose from ${Object.keys(BENCHMARKS).join(', ')}`);
  const chosen = names.length > 0 ? names : Object.keys(BENCHMARKS);
  // The benchmarks that run a task the way the agent does need the agent's Node runtimes
  // (test/runtimes), which npm test and npm run demo install and a fresh clone lacks.
  const runtimes = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'agent-runtimes.mjs')], {
    stdio: 'inherit',
  });
  if (runtimes.status !== 0) throw new Error('installing the agent runtimes (scripts/agent-runtimes.mjs) failed');
  for (const [i, name] of chosen.entries()) {
    if (i > 0) console.log('');
    await BENCHMARKS[name]!();
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
