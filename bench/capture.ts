import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCertificates, testDir } from '../lab/ground';
import { OciLayout, push } from '../lab/images';
import { builtVsix } from '../lab/paths';
import { startProxy } from '../lab/proxy';
import { startRegistry } from '../lab/registry';
import { runTask } from '../lab/agent';
import { taskEntry } from '../lab/taskrun';
import { ratio, timeCommand } from './stats';

// DigestCapture against its peers in one run: `skopeo inspect --raw` for the same image (what a
// script would call), and a bare `node -e 0` (the floor of any Node task); as a breakdown, a Node
// process that only GETs the manifest over https (the floor of any Node task that asks a
// registry) and one that only loads the task library (which the tasks no longer load at start:
// src/tasks/agent.ts; DigestPin loads it for its first file match). Also counts the HTTP
// requests one capture sends, at a proxy in front of the registry, and the size of the .vsix.

const RUNS = 15;

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'bench-capture-'));
  try {
    const certs = runCertificates();
    const [open, basic] = await Promise.all([
      startRegistry(join(dir, 'open'), certs),
      startRegistry(join(dir, 'basic'), certs, { htpasswd: { username: 'bench', password: 'bench-pass' } }),
    ]);
    const layout = new OciLayout(join(dir, 'layout'));
    layout.image('amd64', 'amd64', 'bench payload\n');
    push(layout, 'amd64', `${open.host}/bench/app:1.0`, { certDir: certs.certDir });
    push(layout, 'amd64', `${basic.host}/bench/app:1.0`, { certDir: certs.certDir, creds: 'bench:bench-pass' });

    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_EXTRA_CA_CERTS: certs.caFile,
      AGENT_TEMPDIRECTORY: dir,
    };
    const taskEnv = { ...env, INPUT_IMAGE: `${open.host}/bench/app:1.0`, INPUT_CONNECTIONTYPE: 'anonymous' };
    const node = timeCommand(process.execPath, ['-e', '0'], env, RUNS);
    const skopeo = timeCommand(
      'skopeo',
      ['inspect', '--raw', '--cert-dir', certs.certDir, `docker://${open.host}/bench/app:1.0`],
      env,
      RUNS,
    );
    const capture = timeCommand(process.execPath, [taskEntry('DigestCapture')], taskEnv, RUNS);
    const get = `require('https').get('${open.url}/v2/bench/app/manifests/1.0', (r) => r.resume())`;
    const https = timeCommand(process.execPath, ['-e', get], env, RUNS);
    const taskLib = timeCommand(
      process.execPath,
      ['-e', `require(${JSON.stringify(require.resolve('azure-pipelines-task-lib/task'))})`],
      env,
      RUNS,
    );

    console.log('DigestCapture (packaged task, anonymous, one image manifest), median of %d runs:', RUNS);
    console.log(`  node -e 0            ${node.toFixed(1)} ms`);
    console.log(`  skopeo inspect --raw ${skopeo.toFixed(1)} ms`);
    console.log(`  DigestCapture        ${capture.toFixed(1)} ms`);
    console.log(`  capture / node floor ${ratio(capture, node)}   (goal: at most 1.60x)`);
    console.log(`  capture / skopeo     ${ratio(capture, skopeo)}`);
    console.log('  breakdown (each a fresh process):');
    console.log(
      `    node + one https GET of the manifest   ${https.toFixed(1)} ms (${ratio(https, node)} of the floor)`,
    );
    console.log(
      `    node + loading azure-pipelines-task-lib (from node_modules; the tasks do not) ${taskLib.toFixed(1)} ms (${ratio(taskLib, node)} of the floor)`,
    );

    for (const [label, registry, inputs, endpoints] of [
      ['anonymous', open, { connectionType: 'anonymous' }, {}],
      [
        'Basic (service connection)',
        basic,
        { connectionType: 'dockerRegistry', dockerRegistryServiceConnection: 'c' },
        { c: { scheme: 'UsernamePassword', parameters: { username: 'bench', password: 'bench-pass' } } },
      ],
    ] as const) {
      let requests = 0;
      const proxy = await startProxy(registry.url, certs, (_m, _p, _s, _h, body) => {
        requests++;
        return body;
      });
      const run = await runTask('DigestCapture', {
        inputs: { image: `${proxy.host}/bench/app:1.0`, ...inputs },
        connections: endpoints,
        hostEnv: { NODE_EXTRA_CA_CERTS: certs.caFile },
      });
      await proxy.close();
      if (run.result !== 'Succeeded') throw new Error(`capture through the proxy failed: ${run.message}`);
      console.log(`  HTTP requests per capture, ${label}: ${requests}`);
    }
    console.log(
      `  .vsix size: ${(statSync(builtVsix()).size / 1024).toFixed(0)} KiB (goal: under 2048 KiB with all tasks)`,
    );
    open.stop();
    basic.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
