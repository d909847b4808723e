// npm test, in the order that shows a failure soonest, each pass mocha with the run's certificate
// authority (see with-ca.mjs), then one plain closing line that any CI reader understands, from the
// counts of all passes:
//   0. lint and format check (Biome, biome.json): a finding stops the run before anything is built;
//      `npm run format` applies the fixes that are safe;
//   1. compile, then the fast suites: everything in out/test but test/packaged/ and the demo (core,
//      templates, schemas, layers), before any .vsix exists: a failure there shows in seconds;
//   2. build and package the .vsix, then test/packaged/ (the suites that need it: the packaged tasks
//      run through the agent model, and what the .vsix ships) and the demo, with the agent on Node 20;
//   3. test/packaged/ again with the agent on Node 24.
// The tasks declare the Node20_1 and Node24 handlers; the agent runs the Node24 entry on Node 20
// unless its UseNode24withHandlerData knob is on (NodeHandler.GetNodeLocationLegacy), hence passes 2
// and 3. Both binaries are the ones the agent ships, installed once into test/runtimes (each its own
// package: they link a bin named node, which must not shadow the node of npm scripts).
//
// npm test -- <files or globs>: compile, package, then those suites as one pass (no lint), on the agent's
// Node 20 unless DIGEST_RELEASE_AGENT_NODE=24 asks for the other. npm run test:fast (--fast): step 1.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureAgentRuntimes } from './agent-runtimes.mjs';
import { root, runWithCa } from './with-ca.mjs';

const PACKAGED = 'out/test/packaged/**/*.test.js';
const DEMO = 'out/test/demo.test.js';

const args = process.argv.slice(2);
const fastOnly = args.includes('--fast');
const given = args.filter((arg) => arg !== '--fast');
const node = process.env.DIGEST_RELEASE_AGENT_NODE ?? '20';

const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const totals = { passing: 0, failing: 0, pending: 0 };
let status = 0;

/** Runs a step of the build with this node; stops the run when it fails. */
function step(title, script, scriptArgs = []) {
  console.log(`\n== ${title}`);
  const result = spawnSync(process.execPath, [join(root, script), ...scriptArgs], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.log(`${title} failed${totals.passing + totals.failing > 0 ? `; so far ${summary()}` : ''}`);
    process.exit(result.status ?? 1);
  }
}

async function pass(title, mochaArgs, agentNode) {
  console.log(`\n== ${title}`);
  let output = '';
  const code = await runWithCa(
    [mocha, ...mochaArgs],
    (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString('utf8');
    },
    { DIGEST_RELEASE_AGENT_NODE: agentNode },
  );
  // mocha's counts are lines of their own ("  12 passing (3s)"), before the failures are listed.
  for (const word of Object.keys(totals))
    totals[word] += Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(output)?.[1] ?? 0);
  if (code !== 0) status = code;
  return code;
}

function summary() {
  return `${totals.passing} passed, ${totals.failing} failed${totals.pending ? `, ${totals.pending} skipped` : ''}`;
}

if (given.length === 0) {
  step(
    'lint and format (biome check; npm run format fixes what it safely can)',
    join('node_modules', '@biomejs', 'biome', 'bin', 'biome'),
    ['check', '.'],
  );
}

// Compiled files of suites since moved or deleted would still match the globs: compile afresh.
rmSync(join(root, 'out'), { recursive: true, force: true });
step('compile', join('node_modules', 'typescript', 'bin', 'tsc'), ['-p', 'tsconfig.json']);

if (given.length > 0) {
  step('build', join('scripts', 'build.mjs'));
  step('package', join('scripts', 'package.mjs'));
  ensureAgentRuntimes();
  await pass(`given suites, tasks on the agent with Node ${node}`, given, node);
} else {
  // No .vsix while the fast suites run: one that needs it fails, rather than read the last run's.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const fast = await pass(
    'fast suites (no .vsix)',
    ['out/test/**/*.test.js', '--ignore', PACKAGED, '--ignore', DEMO],
    '20',
  );
  if (fast !== 0 && !fastOnly) console.log(`\nThe fast suites failed (${summary()}); the packaged suites run next.`);
  if (!fastOnly) {
    step('build', join('scripts', 'build.mjs'));
    step('package', join('scripts', 'package.mjs'));
    ensureAgentRuntimes();
    await pass('packaged suites and the demo, tasks on the agent with Node 20', [PACKAGED, DEMO], '20');
    await pass('packaged suites, tasks on the agent with Node 24', [PACKAGED], '24');
  }
}
console.log(summary());
process.exit(status);
