// npm test: after packaging, mocha with the run's certificate authority (see with-ca.mjs), then one
// plain closing line that any CI reader understands, from mocha's own counts. The tasks declare the
// Node20_1 and Node24 handlers; the agent runs the Node24 entry on Node 20 unless its
// UseNode24withHandlerData knob is on (NodeHandler.GetNodeLocationLegacy), so every suite runs with
// the agent on Node 20, then the task suites again with the agent on Node 24. Both binaries are the
// ones the agent ships, installed once into test/runtimes (each its own package: they link a bin
// named node, which must not shadow the node of npm scripts).
import { join } from 'node:path';
import { ensureAgentRuntimes } from './agent-runtimes.mjs';
import { root, runWithCa } from './with-ca.mjs';

ensureAgentRuntimes();

const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const passes = [
  { title: 'all suites, tasks on the agent with Node 20', args: process.argv.length > 2 ? process.argv.slice(2) : ['out/test/**/*.test.js'], env: { DIGEST_RELEASE_AGENT_NODE: '20' } },
  { title: 'task suites, tasks on the agent with Node 24', args: ['out/test/packaged/**/*.test.js'], env: { DIGEST_RELEASE_AGENT_NODE: '24' } },
];
// A run given its own arguments (npm test -- out/test/unit/x.test.js) is one pass, on the agent's
// Node 20 unless DIGEST_RELEASE_AGENT_NODE=24 asks for the other.
if (process.argv.length > 2) {
  passes.length = 1;
  const node = process.env.DIGEST_RELEASE_AGENT_NODE ?? '20';
  passes[0] = { ...passes[0], title: `given suites, tasks on the agent with Node ${node}`, env: { DIGEST_RELEASE_AGENT_NODE: node } };
}

const totals = { passing: 0, failing: 0, pending: 0 };
let status = 0;
for (const pass of passes) {
  console.log(`\n== ${pass.title}`);
  let output = '';
  const code = await runWithCa(
    [mocha, ...pass.args],
    (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString('utf8');
    },
    pass.env,
  );
  // mocha's counts are lines of their own ("  12 passing (3s)"), before the failures are listed.
  for (const word of Object.keys(totals)) totals[word] += Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(output)?.[1] ?? 0);
  if (code !== 0) status = code;
}
console.log(`${totals.passing} passed, ${totals.failing} failed${totals.pending ? `, ${totals.pending} skipped` : ''}`);
process.exit(status);
