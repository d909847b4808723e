import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runCertificates, testDir } from '../lab/ground';
import { OciLayout, inspectRawAsync, pushAsync, sha256Hex } from '../lab/images';
import { startProxy } from '../lab/proxy';
import { startRegistry } from '../lab/registry';
import { taskEntry } from '../lab/taskrun';
import { measure, measureTask } from './measure';
import { median, ratio } from './stats';

// The fixed cost of every task: each packaged task on a run that does next to nothing (a small
// image that is already where it should be), as the agent starts it (node index.js), against a
// bare `node -e 0` in the same run. Two times each: until the first HTTP request reaches the
// registry (start-up: loading and compiling the bundle, reading inputs, signing in), and until
// the process has exited. The registry sits behind a proxy in this process that notes when each
// request arrives. Each task also runs from its bundle alone (node task.js: no V8 code cache, as
// every task started before src/tasks/cached-start.js), so the cache's share is measured in the
// same rounds. Medians of several runs, the lowest in brackets. Printed, never asserted.

const RUNS = 11;

interface StartupCase {
  readonly task: string;
  readonly inputs: Record<string, string>;
  /** What the run does, for the table. */
  readonly what: string;
  /** The run fails on purpose (nothing to verify): its result is not checked. */
  readonly mayFail?: boolean;
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'bench-startup-'));
  try {
    const certs = runCertificates();
    const registry = await startRegistry(join(dir, 'registry'), certs);
    const layout = new OciLayout(join(dir, 'layout'));
    layout.image('app', 'amd64', 'bench payload\n');
    await pushAsync(layout, 'app', `${registry.host}/bench/app:1.0`, { certDir: certs.certDir });
    await pushAsync(layout, 'app', `${registry.host}/promoted/app:1.0`, { certDir: certs.certDir });
    const digest = sha256Hex(await inspectRawAsync(`${registry.host}/bench/app:1.0`, { certDir: certs.certDir }));

    let firstRequest: bigint | undefined;
    const proxy = await startProxy(registry.url, certs, undefined, {
      onRequest: () => {
        firstRequest ??= process.hrtime.bigint();
      },
    });
    const host = proxy.host;
    const sources = join(dir, 'sources');
    mkdirSync(sources, { recursive: true });
    writeFileSync(
      join(sources, 'deploy.yaml'),
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: myacr.azurecr.io/team/app:1.0\n',
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_EXTRA_CA_CERTS: certs.caFile,
      AGENT_TEMPDIRECTORY: dir,
      PIPELINE_WORKSPACE: dir,
      BUILD_SOURCESDIRECTORY: sources,
      SYSTEM_DEFAULTWORKINGDIRECTORY: sources,
    };
    const cases: StartupCase[] = [
      {
        task: 'DigestCapture',
        what: 'capture a tag',
        inputs: { image: `${host}/bench/app:1.0`, connectionType: 'anonymous' },
      },
      {
        task: 'DigestPromote',
        what: 'promote to where it is',
        inputs: {
          source: `${host}/bench/app@${digest}`,
          target: `${host}/promoted/app:1.0`,
          sourceConnectionType: 'anonymous',
          targetConnectionType: 'anonymous',
        },
      },
      {
        task: 'DigestLock',
        what: 'lock, not ACR: skipped',
        inputs: { image: `${host}/bench/app:1.0`, connectionType: 'anonymous', failOnUnsupported: 'false' },
      },
      {
        task: 'DigestRetain',
        what: 'report on one tag',
        inputs: { repository: `${host}/bench/app`, connectionType: 'anonymous' },
      },
      {
        task: 'DigestEvidence',
        what: 'verify, none attached',
        inputs: { mode: 'verify', image: `${host}/bench/app@${digest}`, connectionType: 'anonymous' },
        mayFail: true,
      },
      {
        task: 'DigestPin',
        what: 'pin one file (no network)',
        inputs: { files: 'deploy.yaml', images: `myacr.azurecr.io/team/app@${digest}` },
      },
    ];

    // Rounds interleave node -e 0 and every task, so that all see the same load; the lowest of
    // each (what it costs when nothing else runs) is printed next to the median.
    const node: { ms: number[]; cpu: number[] } = { ms: [], cpu: [] };
    const runs = cases.map(() => ({
      first: [] as number[],
      total: [] as number[],
      cpu: [] as number[],
      uncached: [] as number[],
      outcome: '',
    }));
    for (let round = 0; round <= RUNS; round++) {
      const bare = await measure(process.execPath, ['-e', '0'], env, dir);
      if (round > 0) {
        node.ms.push(bare.ms);
        node.cpu.push(bare.cpuMs);
      }
      for (const [i, c] of cases.entries()) {
        firstRequest = undefined;
        const started = process.hrtime.bigint();
        const run = await measureTask(taskEntry(c.task), env, c.inputs, dir);
        runs[i]!.outcome = run.outcome;
        if (!c.mayFail && !run.outcome.startsWith('Succeeded'))
          throw new Error(`${c.task} (${c.what}) failed: ${run.outcome}\n${run.stderr}`);
        if (round === 0) continue; // a warm-up round: the bundles read from disk once
        runs[i]!.total.push(run.ms);
        runs[i]!.cpu.push(run.cpuMs);
        if (firstRequest !== undefined) runs[i]!.first.push(Number(firstRequest - started) / 1e6);
        const bundleOnly = join(dirname(taskEntry(c.task)), 'task.js');
        runs[i]!.uncached.push((await measureTask(bundleOnly, env, c.inputs, dir)).ms);
      }
    }
    await proxy.close();
    registry.stop();
    const low = (values: number[]) => Math.min(...values);
    const cell = (values: number[], base: number[]) =>
      values.length === 0
        ? 'no request'
        : `${median(values).toFixed(0)} (${low(values).toFixed(0)}) ms ${ratio(median(values), median(base))} (${ratio(low(values), low(base))})`;
    console.log(
      `Start-up of every task (packaged, node ${process.version}): ${RUNS} rounds, median (lowest) and its ratio to node -e 0's median (lowest); CPU is user + system:`,
    );
    console.log(
      `  ${'task'.padEnd(15)} ${'run'.padEnd(27)} ${'to first request'.padEnd(28)} ${'to exit'.padEnd(28)} ${'CPU'.padEnd(26)} ${'to exit, no code cache'.padEnd(28)} result`,
    );
    console.log(
      `  ${'node -e 0'.padEnd(15)} ${''.padEnd(27)} ${''.padEnd(28)} ${cell(node.ms, node.ms).padEnd(28)} ${cell(node.cpu, node.cpu).padEnd(26)}`,
    );
    for (const [i, c] of cases.entries()) {
      const r = runs[i]!;
      console.log(
        `  ${c.task.padEnd(15)} ${c.what.padEnd(27)} ${cell(r.first, node.ms).padEnd(28)} ${cell(r.total, node.ms).padEnd(28)} ${cell(r.cpu, node.cpu).padEnd(26)} ${cell(r.uncached, node.ms).padEnd(28)} ${r.outcome.split(':')[0]}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
