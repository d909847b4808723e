import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runCertificates, testDir } from '../lab/ground';
import { OciLayout, inspectRaw, push, sha256Hex } from '../lab/images';
import { startRegistry } from '../lab/registry';
import { parseVsoLines, taskEntry } from '../lab/taskrun';
import { median, ratio } from './stats';

// DigestPromote against skopeo copy in one run: an image of about 200 MB in five layers of random
// (incompressible) data, made with umoci, pushed to one local registry and promoted to another,
// by the packaged task and by `skopeo copy`, each into a fresh repository, rounds alternating who
// goes first. Also the task's peak memory (max RSS of the child, from /usr/bin/time), the CPU time
// of both (on a shared machine the steadier number), and a re-promotion's time and blob bytes.
// Printed, never asserted.

const LAYERS = 5;
const LAYER_BYTES = 40 * 1024 * 1024;
const ROUNDS = 3;

function makeImage(dir: string): OciLayout {
  const layout = new OciLayout(join(dir, 'layout'));
  const ref = `${layout.dir}:big`;
  execFileSync('umoci', ['new', '--image', ref]);
  execFileSync('umoci', ['config', '--image', ref, '--os', 'linux', '--architecture', 'amd64']);
  for (let i = 0; i < LAYERS; i++) {
    const file = join(dir, `layer-${i}.bin`);
    const fd = openSync(file, 'w');
    for (let written = 0; written < LAYER_BYTES; written += 1024 * 1024) writeSync(fd, randomBytes(1024 * 1024));
    closeSync(fd);
    execFileSync('umoci', ['insert', '--image', ref, file, `/data/layer-${i}.bin`]);
    rmSync(file);
  }
  return layout;
}

interface TaskRunResult {
  readonly ms: number;
  readonly maxRssKiB: number;
  readonly cpuMs: number;
  readonly outputs: Record<string, string>;
}

function runPromote(env: NodeJS.ProcessEnv, inputs: Record<string, string>, dir: string): TaskRunResult {
  const rssFile = join(dir, 'rss.txt');
  const taskEnv: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(inputs)) taskEnv[`INPUT_${name.toUpperCase()}`] = value;
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, process.execPath, taskEntry('DigestPromote')], { env: taskEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const outputs: Record<string, string> = {};
  let outcome = '';
  for (const cmd of parseVsoLines(result.stdout)) {
    if (cmd.command === 'task.setvariable' && cmd.properties.isOutput === 'true') outputs[cmd.properties.variable!] = cmd.message;
    if (cmd.command === 'task.complete') outcome = `${cmd.properties.result ?? ''}: ${cmd.message}`;
  }
  if (!outcome.startsWith('Succeeded')) throw new Error(`DigestPromote failed: ${outcome}\n${result.stderr}`);
  const { maxRssKiB, cpuMs } = readTime(rssFile);
  return { ms, maxRssKiB, cpuMs, outputs };
}

/** The last line /usr/bin/time wrote: max RSS in KiB, user and system seconds. */
function readTime(file: string): { maxRssKiB: number; cpuMs: number } {
  const [rss, user, system] = readFileSync(file, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { maxRssKiB: rss!, cpuMs: (user! + system!) * 1000 };
}

function timeSkopeo(args: string[], dir: string): { ms: number; cpuMs: number; maxRssKiB: number } {
  const timeFile = join(dir, 'skopeo-time.txt');
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, 'skopeo', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${result.stderr}`);
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, ...readTime(timeFile) };
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'bench-promote-'));
  try {
    const certs = runCertificates();
    const source = await startRegistry(join(dir, 'source'), certs);
    // Every copy goes to a registry of its own: skopeo's blob-info cache would otherwise mount
    // blobs an earlier copy left in the same registry, and time a mount, not a copy.
    const fresh = (name: string) => startRegistry(join(dir, name), certs);
    const target = await fresh('target');
    const layout = makeImage(dir);
    const access = { certDir: certs.certDir };
    push(layout, 'big', `${source.host}/bench/big:1.0`, access);
    const digest = sha256Hex(inspectRaw(`${source.host}/bench/big:1.0`, access));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_EXTRA_CA_CERTS: certs.caFile, AGENT_TEMPDIRECTORY: dir };
    const sourceRef = `${source.host}/bench/big@${digest}`;

    const skopeo: number[] = [];
    const skopeoCpu: number[] = [];
    let skopeoRss = 0;
    const task: number[] = [];
    const taskCpu: number[] = [];
    const rss: number[] = [];
    let bytes = 0;
    let last = '';
    for (let round = 0; round < ROUNDS; round++) {
      const skopeoTarget = await fresh(`skopeo-${round}`);
      const taskTarget = round === ROUNDS - 1 ? target : await fresh(`task-${round}`);
      const runSkopeo = () => {
        const run = timeSkopeo(['copy', '--quiet', '--src-cert-dir', certs.certDir, '--dest-cert-dir', certs.certDir, `docker://${sourceRef}`, `docker://${skopeoTarget.host}/promoted/big:1.0`], dir);
        skopeo.push(run.ms);
        skopeoCpu.push(run.cpuMs);
        skopeoRss = Math.max(skopeoRss, run.maxRssKiB);
      };
      const runTask = () => {
        last = `${taskTarget.host}/promoted/big:1.0`;
        const run = runPromote(env, { source: sourceRef, target: last, sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous' }, dir);
        task.push(run.ms);
        taskCpu.push(run.cpuMs);
        rss.push(run.maxRssKiB);
        bytes = Number(run.outputs.PROMOTED_BYTES);
      };
      if (round % 2 === 0) {
        runSkopeo();
        runTask();
      } else {
        runTask();
        runSkopeo();
      }
      skopeoTarget.stop();
      if (taskTarget !== target) taskTarget.stop();
      rmSync(join(dir, `skopeo-${round}`), { recursive: true, force: true });
      rmSync(join(dir, `task-${round}`), { recursive: true, force: true });
    }
    const again = runPromote(env, { source: sourceRef, target: last, sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous' }, dir);
    const copied = sha256Hex(inspectRaw(last, access)) === digest;

    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
    console.log(`DigestPromote (packaged task, concurrency 4) vs skopeo copy, ${LAYERS} layers of ${mib(LAYER_BYTES)} random data, registry to registry, median of ${ROUNDS} rounds:`);
    console.log(`  skopeo copy           ${median(skopeo).toFixed(0)} ms   (rounds: ${skopeo.map((t) => t.toFixed(0)).join(', ')})`);
    console.log(`  DigestPromote         ${median(task).toFixed(0)} ms   (rounds: ${task.map((t) => t.toFixed(0)).join(', ')})`);
    console.log(`                        (blob bytes moved: ${mib(bytes)}; target hashes to the source digest: ${copied})`);
    console.log(`  promote / skopeo      ${ratio(median(task), median(skopeo))}   (goal: at most 1.00x)`);
    console.log(`  CPU time (user+sys)   task ${median(taskCpu).toFixed(0)} ms, skopeo ${median(skopeoCpu).toFixed(0)} ms: ${ratio(median(taskCpu), median(skopeoCpu))}`);
    console.log(`  peak memory (max RSS) ${(Math.max(...rss) / 1024).toFixed(0)} MiB   (goal: under 150 MiB; skopeo ${(skopeoRss / 1024).toFixed(0)} MiB)`);
    console.log(`  re-promotion          ${again.ms.toFixed(0)} ms, ${again.outputs.PROMOTED_BYTES} blob bytes, ${again.outputs.PROMOTED_BLOBS} blobs   (goal: 0 bytes)`);
    source.stop();
    target.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
