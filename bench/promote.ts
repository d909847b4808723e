import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runCertificates, testDir } from '../lab/ground';
import { OciLayout, inspectRawAsync, sha256Hex, skopeo as runSkopeo } from '../lab/images';
import { startProxy } from '../lab/proxy';
import type { RunningRegistry } from '../lab/registry';
import { startRegistry } from '../lab/registry';
import { planImage } from '../src/promote/plan';
import { parseDigest } from '../src/reference/digest';
import { RegistryClient } from '../src/registry/client';
import { SETTLE_MIN_MS } from '../src/registry/racing-writes';
import { taskEntry } from '../lab/taskrun';
import type { Measured, TaskMeasured } from './measure';
import { measure, measureSkopeo, measureTask } from './measure';
import type { PipeJob } from './blob-pipe';
import { median, ratio, rounds } from './stats';

// DigestPromote against `skopeo copy` in one run, registry to registry, on five cases: a 190 MB
// image in four layers, one 400 MB layer, 40 layers of 1 MB, an index of four platforms (skopeo
// copy --all), each into an empty target ("cold"), and the 190 MB image promoted again to a target
// that holds it (against skopeo copying it again there: "warm"). Layers are random (incompressible)
// data, made with umoci. For each: median wall time of a few rounds (who goes first rotates),
// wall ratio, CPU ratio (user + system of the whole process, the steadier number on a shared
// machine), peak RSS of both (/usr/bin/time), and the HTTP requests each sends (one more run each
// through a counting proxy in front of both registries, not timed). Printed, never asserted.
//
// Each cold case also times the same blobs moved alone, in the same rounds (blob-pipe.ts: a Node
// process streaming each GET into a PUT through a sha256 over our HTTP exchange, nothing else):
// the floor for these bytes in Node on this machine. DigestPromote's time above it is the rest of
// a promotion (task start-up, planning, manifests, read-backs, the settle wait before a written
// tag is read back); the floor's own distance above skopeo is what no change outside the data path
// can win back.

const ROUNDS = 3;
const MB = 1_000_000;

interface CopyCase {
  readonly name: string;
  readonly tag: string;
  /** An index: skopeo copies every platform only with --all. */
  readonly index: boolean;
}

interface CaseResult {
  readonly name: string;
  readonly peer: 'cold' | 'warm';
  readonly ours: TaskMeasured[];
  readonly skopeo: Measured[];
  /** The blobs alone, through our HTTP exchange (cold cases). */
  readonly pipe: Measured[];
  readonly requests: { ours: number; skopeo: number };
  readonly note: string;
}

/** An image of one layer per size, each a file of random bytes. */
function makeImage(layout: OciLayout, dir: string, tag: string, architecture: string, sizes: readonly number[]): void {
  const ref = `${layout.dir}:${tag}`;
  execFileSync('umoci', ['new', '--image', ref]);
  execFileSync('umoci', ['config', '--image', ref, '--os', 'linux', '--architecture', architecture]);
  for (const [i, bytes] of sizes.entries()) {
    const file = join(dir, `${tag}-layer-${i}.bin`);
    const fd = openSync(file, 'w');
    for (let written = 0; written < bytes; written += MB) writeSync(fd, randomBytes(Math.min(MB, bytes - written)));
    closeSync(fd);
    execFileSync('umoci', ['insert', '--image', ref, file, `/data/layer-${i}.bin`]);
    rmSync(file);
  }
}

/** The runs of a round, one after the other, each round starting one further along (skopeo first in round 0). */
async function alternate(round: number, ...runs: (() => Promise<unknown>)[]): Promise<void> {
  for (let i = 0; i < runs.length; i++) await runs[(round + i) % runs.length]!();
}

/**
 * Where a task run's time went, from when its log lines came: up to "Copying blobs" (start-up,
 * planning, the target's first look), up to "Referrers:" (the blobs), and the rest.
 */
function phasesOf(run: Measured): { start: number; blobs: number; after: number } | undefined {
  const at = (prefix: string) => run.lines.find((line) => line.text.startsWith(prefix))?.ms;
  const copying = at('Copying blobs');
  const copied = at('Referrers:');
  if (copying === undefined || copied === undefined) return undefined;
  return { start: copying, blobs: copied - copying, after: run.ms - copied };
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'bench-promote-'));
  const registries: RunningRegistry[] = [];
  try {
    const certs = runCertificates();
    let fresh = 0;
    // Every copy goes to a registry of its own: skopeo's blob-info cache would otherwise mount
    // blobs an earlier copy left in the same registry, and time a mount, not a copy.
    const newRegistry = async (): Promise<RunningRegistry> => {
      const registry = await startRegistry(join(dir, `registry-${fresh++}`), certs);
      registries.push(registry);
      return registry;
    };
    const drop = (registry: RunningRegistry) => {
      registry.stop();
      rmSync(join(registry.storage, '..'), { recursive: true, force: true });
    };
    const source = await newRegistry();
    const access = { certDir: certs.certDir };
    const layout = new OciLayout(join(dir, 'layout'));
    const platforms = ['amd64', 'arm64', 'ppc64le', 's390x'];
    const all: (CopyCase & { make: () => void })[] = [
      {
        name: '190 MB image, 4 layers',
        tag: 'image',
        index: false,
        make: () => makeImage(layout, dir, 'image', 'amd64', [47.5 * MB, 47.5 * MB, 47.5 * MB, 47.5 * MB]),
      },
      {
        name: 'one 400 MB layer',
        tag: 'one',
        index: false,
        make: () => makeImage(layout, dir, 'one', 'amd64', [400 * MB]),
      },
      {
        name: '40 layers of 1 MB',
        tag: 'many',
        index: false,
        make: () =>
          makeImage(
            layout,
            dir,
            'many',
            'amd64',
            Array.from({ length: 40 }, () => MB),
          ),
      },
      {
        name: 'index of 4 platforms (8 MB each)',
        tag: 'index',
        index: true,
        make: () => {
          for (const arch of platforms) makeImage(layout, dir, `index-${arch}`, arch, [8 * MB]);
          layout.index(
            'index',
            platforms.map((arch) => ({ tag: `index-${arch}`, architecture: arch })),
          );
        },
      },
    ];
    // BENCH_PROMOTE_CASES=image,one,many,index runs only those (the re-promotion comes with image).
    const only = process.env.BENCH_PROMOTE_CASES?.split(',').map((name) => name.trim());
    const cases: CopyCase[] = all.filter((c) => only === undefined || only.includes(c.tag));
    for (const c of all) if (cases.includes(c)) c.make();
    const digests = new Map<string, string>();
    const blobs = new Map<string, PipeJob['blobs']>();
    const sourceClient = new RegistryClient(source.host);
    // Pushed by a skopeo that does not block this process: the registries' logs are read here.
    for (const c of cases) {
      const pushed = await runSkopeo([
        'copy',
        '--quiet',
        ...(c.index ? ['--all'] : []),
        '--dest-cert-dir',
        certs.certDir,
        `oci:${layout.dir}:${c.tag}`,
        `docker://${source.host}/bench/${c.tag}:1.0`,
      ]);
      if (pushed.code !== 0) throw new Error(`pushing ${c.tag} failed: ${pushed.stderr}`);
      digests.set(c.tag, sha256Hex(await inspectRawAsync(`${source.host}/bench/${c.tag}:1.0`, access)));
      // What a promotion of it copies, as DigestPromote plans it (an index's blobs through its children).
      const plan = await planImage(sourceClient, `bench/${c.tag}`, parseDigest(digests.get(c.tag)!));
      blobs.set(
        c.tag,
        plan.blobs.map((blob) => ({ digest: blob.digest, size: blob.size })),
      );
    }

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_EXTRA_CA_CERTS: certs.caFile,
      AGENT_TEMPDIRECTORY: dir,
    };
    const entry = taskEntry('DigestPromote');
    const ours = async (sourceHost: string, c: CopyCase, targetHost: string): Promise<TaskMeasured> => {
      const run = await measureTask(
        entry,
        env,
        {
          source: `${sourceHost}/bench/${c.tag}@${digests.get(c.tag)!}`,
          target: `${targetHost}/promoted/${c.tag}:1.0`,
          sourceConnectionType: 'anonymous',
          targetConnectionType: 'anonymous',
        },
        dir,
      );
      if (!run.outcome.startsWith('Succeeded'))
        throw new Error(`DigestPromote of ${c.name} failed: ${run.outcome}\n${run.stderr}`);
      return run;
    };
    const skopeo = (sourceHost: string, c: CopyCase, targetHost: string): Promise<Measured> =>
      measureSkopeo(
        [
          'copy',
          '--quiet',
          ...(c.index ? ['--all'] : []),
          '--src-cert-dir',
          certs.certDir,
          '--dest-cert-dir',
          certs.certDir,
          `docker://${sourceHost}/bench/${c.tag}@${digests.get(c.tag)!}`,
          `docker://${targetHost}/promoted/${c.tag}:1.0`,
        ],
        dir,
      );
    const pipe = async (c: CopyCase, targetHost: string): Promise<Measured> => {
      const job: PipeJob = {
        source: `https://${source.host}/v2/bench/${c.tag}`,
        target: `https://${targetHost}/v2/promoted/${c.tag}`,
        blobs: blobs.get(c.tag)!,
        concurrency: 4,
      };
      const run = await measure(process.execPath, [join(__dirname, 'blob-pipe.js'), JSON.stringify(job)], env, dir);
      if (run.status !== 0) throw new Error(`moving the blobs of ${c.name} alone failed: ${run.stderr}`);
      return run;
    };
    /** One run of each through counting proxies in front of the source and the target. */
    const count = async (
      c: CopyCase,
      oursTarget: RunningRegistry,
      skopeoTarget: RunningRegistry,
    ): Promise<{ ours: number; skopeo: number }> => {
      const counted = { ours: 0, skopeo: 0 };
      for (const [who, target] of [
        ['ours', oursTarget],
        ['skopeo', skopeoTarget],
      ] as const) {
        const sourceProxy = await startProxy(source.url, certs);
        const targetProxy = await startProxy(target.url, certs);
        if (who === 'ours') await ours(sourceProxy.host, c, targetProxy.host);
        else await skopeo(sourceProxy.host, c, targetProxy.host);
        counted[who] = sourceProxy.requests.length + targetProxy.requests.length;
        await sourceProxy.close();
        await targetProxy.close();
      }
      return counted;
    };

    const results: CaseResult[] = [];
    let kept: { ours: RunningRegistry; skopeo: RunningRegistry } | undefined;
    for (const c of cases) {
      const result: CaseResult = {
        name: c.name,
        peer: 'cold',
        ours: [],
        skopeo: [],
        pipe: [],
        requests: { ours: 0, skopeo: 0 },
        note: '',
      };
      for (let round = 0; round < ROUNDS; round++) {
        const [oursTarget, skopeoTarget, pipeTarget] = [await newRegistry(), await newRegistry(), await newRegistry()];
        await alternate(
          round,
          async () => result.skopeo.push(await skopeo(source.host, c, skopeoTarget.host)),
          async () => result.ours.push(await ours(source.host, c, oursTarget.host)),
          async () => result.pipe.push(await pipe(c, pipeTarget.host)),
        );
        drop(pipeTarget);
        // The 190 MB image's last targets stay for the re-promotion.
        if (c.tag === 'image' && round === ROUNDS - 1) kept = { ours: oursTarget, skopeo: skopeoTarget };
        else [oursTarget, skopeoTarget].forEach(drop);
      }
      const [oursTarget, skopeoTarget] = [await newRegistry(), await newRegistry()];
      Object.assign(result.requests, await count(c, oursTarget, skopeoTarget));
      [oursTarget, skopeoTarget].forEach(drop);
      const last = result.ours[result.ours.length - 1]!;
      (result as { note: string }).note = `${(Number(last.outputs.PROMOTED_BYTES) / MB).toFixed(0)} MB of blobs moved`;
      results.push(result);
    }

    const image = cases.find((c) => c.tag === 'image');
    if (image !== undefined) {
      const again: CaseResult = {
        name: '190 MB image again (target has it)',
        peer: 'warm',
        ours: [],
        skopeo: [],
        pipe: [],
        requests: { ours: 0, skopeo: 0 },
        note: '',
      };
      for (let round = 0; round < ROUNDS; round++) {
        await alternate(
          round,
          async () => again.skopeo.push(await skopeo(source.host, image, kept!.skopeo.host)),
          async () => again.ours.push(await ours(source.host, image, kept!.ours.host)),
        );
      }
      Object.assign(again.requests, await count(image, kept!.ours, kept!.skopeo));
      const lastAgain = again.ours[again.ours.length - 1]!;
      const copied =
        sha256Hex(await inspectRawAsync(`${kept!.ours.host}/promoted/image:1.0`, access)) === digests.get('image');
      (again as { note: string }).note =
        `${lastAgain.outputs.PROMOTED_BYTES} blob bytes moved (goal 0); target hashes to the source digest: ${copied}`;
      results.push(again);
    }

    const ms = (runs: readonly Measured[], of: (m: Measured) => number) => median(runs.map(of));
    console.log(
      `DigestPromote (packaged task, concurrency 4) vs skopeo copy, registry to registry on this machine, median of ${ROUNDS} rounds (rounds in brackets):`,
    );
    console.log(
      '  cold: skopeo copies into an empty registry; warm: skopeo copies again into the registry that has the image.',
    );
    for (const r of results) {
      const wall = (m: Measured) => m.ms;
      const cpu = (m: Measured) => m.cpuMs;
      const rss = (runs: readonly Measured[]) => Math.max(...runs.map((m) => m.maxRssKiB)) / 1024;
      const goal = r.peer === 'warm' ? 1.2 : r.name.startsWith('190') ? 1.0 : 1.05;
      console.log(`  ${r.name} (vs skopeo ${r.peer}):`);
      console.log(
        `    wall   DigestPromote ${ms(r.ours, wall).toFixed(0)} ms [${rounds(r.ours.map(wall))}], skopeo ${ms(r.skopeo, wall).toFixed(0)} ms [${rounds(r.skopeo.map(wall))}]: ${ratio(ms(r.ours, wall), ms(r.skopeo, wall))} (goal at most ${goal.toFixed(2)}x)`,
      );
      console.log(
        `    CPU    DigestPromote ${ms(r.ours, cpu).toFixed(0)} ms [${rounds(r.ours.map(cpu))}], skopeo ${ms(r.skopeo, cpu).toFixed(0)} ms [${rounds(r.skopeo.map(cpu))}]: ${ratio(ms(r.ours, cpu), ms(r.skopeo, cpu))}`,
      );
      console.log(
        `    peak RSS DigestPromote ${rss(r.ours).toFixed(0)} MiB (goal under 150), skopeo ${rss(r.skopeo).toFixed(0)} MiB; HTTP requests DigestPromote ${r.requests.ours}, skopeo ${r.requests.skopeo}; ${r.note}`,
      );
      const phases = r.ours.map(phasesOf).filter((p) => p !== undefined);
      if (r.peer === 'cold' && phases.length === r.ours.length)
        console.log(
          `    phases DigestPromote to its first blob ${median(phases.map((p) => p.start)).toFixed(0)} ms, the blobs ${median(phases.map((p) => p.blobs)).toFixed(0)} ms, after them ${median(phases.map((p) => p.after)).toFixed(0)} ms (manifests, read-back, tag; the wait before the tag is read back is at least ${SETTLE_MIN_MS} ms of it)`,
        );
      if (r.pipe.length > 0)
        console.log(
          `    floor  the blobs alone ${ms(r.pipe, wall).toFixed(0)} ms [${rounds(r.pipe.map(wall))}]: ${ratio(ms(r.pipe, wall), ms(r.skopeo, wall))} skopeo's wall, CPU ${ms(r.pipe, cpu).toFixed(0)} ms: ${ratio(ms(r.pipe, cpu), ms(r.skopeo, cpu))}; DigestPromote is ${ratio(ms(r.ours, wall), ms(r.pipe, wall))} of it`,
        );
    }
    console.log('  summary (wall ratio, CPU ratio to skopeo; the blobs alone, wall ratio to skopeo):');
    for (const r of results) {
      const floor =
        r.pipe.length > 0
          ? `  ${ratio(
              ms(r.pipe, (m) => m.ms),
              ms(r.skopeo, (m) => m.ms),
            )}`
          : '';
      console.log(
        `    ${r.name.padEnd(36)} ${ratio(
          ms(r.ours, (m) => m.ms),
          ms(r.skopeo, (m) => m.ms),
        )}  ${ratio(
          ms(r.ours, (m) => m.cpuMs),
          ms(r.skopeo, (m) => m.cpuMs),
        )}${floor}`,
      );
    }
  } finally {
    for (const registry of registries) registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
