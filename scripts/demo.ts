import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getManifestProperties, getTagProperties } from '../src/acr/properties';
import { parseDigest } from '../src/reference/digest';
import { RegistryClient } from '../src/registry/client';
import type { AcrGround } from '../lab/acr/ground';
import { startAcrGround } from '../lab/acr/ground';
import { secretConnection } from '../lab/azurerm';
import { runCertificates, testDir } from '../lab/ground';
import type { RegistryAccess } from '../lab/images';
import { OciLayout, inspectRawAsync, push, pushAsync, sha256Hex } from '../lab/images';
import type { RunningRegistry } from '../lab/registry';
import { startRegistry } from '../lab/registry';
import type { AgentJobOptions, StepOptions, TaskRun } from '../lab/agent';
import { AgentJob } from '../lab/agent';

// npm run demo: the main job, end to end, on this machine. A local registry (or DEMO_REGISTRY), an
// image built with umoci and pushed with skopeo, then the tasks from the packaged .vsix run the way
// the agent runs them, and what a pipeline would see is printed. Then the lock and the rollback on
// Azure Container Registry, played by the ACR test front (lab/acr/front.ts) before a real
// distribution registry: lock a release, watch the registry refuse a push onto its tag, record
// evidence for two releases and roll back to the first after verifying its evidence, and before a
// scheduled clean-up keep what runs and what a rollback goes to, undeletable. Every step
// prints when it ran and how long it took; the ACR steps also print the lock state, read back
// from the registry's /acr/v1 API. Everything started is stopped and removed at the end.
//
// runDemo is also what `npm run summaries` runs to picture each task's build summary.

export interface DemoHosts {
  /** The registry the build pushes to (a local distribution registry, or DEMO_REGISTRY). */
  readonly build: string;
  /** The second local registry, that DigestPromote@1 copies to; absent with DEMO_REGISTRY. */
  readonly production?: string;
  /** The ACR test front; absent when docker-registry is not there to stand behind it. */
  readonly acr?: string;
}

export interface DemoOptions {
  /** Where the narration goes. */
  readonly print: (line: string) => void;
  /** Every task run, under a name for the step (`capture`, `lock-1.4.2`, ...). */
  readonly onRun?: (step: string, run: TaskRun) => void;
  /**
   * The registries, once started, the scratch folder the demo works in, and the home of the agent
   * its jobs run on, inside it (all removed at the end).
   */
  readonly onStart?: (hosts: DemoHosts, scratch: string, agentHome: string) => void;
}

const bold = (text: string): string => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const clock = (at: Date): string => at.toISOString().slice(11, 23);
const short = (digest: string): string => `${digest.slice(0, 19)}…`;

/** The demo's bookkeeping: times each step, prints what a pipeline would see, notes what went wrong. */
class Narrator {
  private readonly failures: string[] = [];

  constructor(
    private readonly options: DemoOptions,
    private readonly agentHome: string,
  ) {}

  /** A job on the demo's agent: its steps run one after another, later ones reading earlier outputs as $(step.NAME). */
  job(options: AgentJobOptions = {}): AgentJob {
    return new AgentJob({ ...options, home: this.agentHome });
  }

  print(line = ''): void {
    this.options.print(line);
  }

  /** Runs `body` as one step: its start time and duration head what it prints. */
  async step<T>(title: string, body: () => Promise<T>): Promise<T> {
    const start = new Date();
    const result = await body();
    this.print(`\n${bold(`── ${clock(start)} (${((Date.now() - start.getTime()) / 1000).toFixed(2)} s)  ${title}`)}`);
    return result;
  }

  /** A packaged task, run as a step of `job` the way the agent runs it, and what the pipeline sees of it. */
  async task(step: string, title: string, job: AgentJob, task: string, options: StepOptions): Promise<TaskRun> {
    const run = await this.step(title, () => job.run(task, options));
    for (const cmd of run.commands) {
      if (cmd.command === 'task.setvariable') this.print(`  ${cmd.properties.variable} = ${cmd.message}`);
      if (cmd.command === 'task.issue' || cmd.command === 'task.logissue')
        this.print(`  ${cmd.properties.type}: ${cmd.message}`);
    }
    this.print(`  result: ${run.result}`);
    this.options.onRun?.(step, run);
    return run;
  }

  expect(ok: boolean, what: string): void {
    if (ok) return;
    this.failures.push(what);
    this.print(`  ✗ not as expected: ${what}`);
  }

  get failed(): readonly string[] {
    return this.failures;
  }
}

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$0"', command], { stdio: 'ignore' }).status === 0;
}

/** Runs the whole demo; resolves to what did not go as expected (empty when all did). */
export async function runDemo(options: DemoOptions): Promise<readonly string[]> {
  const dir = mkdtempSync(join(testDir(), 'demo-'));
  const agentHome = join(dir, 'agent');
  mkdirSync(agentHome);
  const say = new Narrator(options, agentHome);
  const certs = runCertificates();
  const started: { stop(): void | Promise<void> }[] = [];
  const cleanUp = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', cleanUp);
  try {
    let host: string;
    let production: RunningRegistry | undefined;
    let access: RegistryAccess;
    let env: Record<string, string>;
    if (process.env.DEMO_REGISTRY) {
      host = process.env.DEMO_REGISTRY;
      access = { certDir: '/etc/containers/certs.d' };
      env = {};
      say.print(
        `Using the registry ${host} (DEMO_REGISTRY); it must accept anonymous pushes over TLS the system trusts.`,
      );
    } else {
      const [build, prod] = await Promise.all([
        startRegistry(join(dir, 'registry'), certs),
        startRegistry(join(dir, 'production'), certs),
      ]);
      started.push(build, prod);
      production = prod;
      host = build.host;
      access = { certDir: certs.certDir };
      env = { NODE_EXTRA_CA_CERTS: certs.caFile };
      say.print(
        `Started two local registries (CNCF distribution, TLS with a CA made for this run): build ${build.url}, production ${prod.url}`,
      );
    }
    const acr = hasCommand('docker-registry') ? await startAcrGround(join(dir, 'acr'), certs) : undefined;
    if (acr) started.push({ stop: () => acr.front.close() }, acr.registry);
    options.onStart?.(
      { build: host, ...(production ? { production: production.host } : {}), ...(acr ? { acr: acr.front.host } : {}) },
      dir,
      agentHome,
    );

    await buildAndRelease(say, dir, host, production, access, env);
    if (acr) await lockAndRollBack(say, dir, acr, { NODE_EXTRA_CA_CERTS: certs.caFile });
    else
      say.print(
        '\nThe lock and rollback part needs docker-registry to stand behind the ACR test front; it is not installed, so that part is skipped.',
      );
  } finally {
    for (const server of started.reverse()) await server.stop();
    cleanUp();
    process.removeListener('exit', cleanUp);
  }
  return say.failed;
}

/** Capture, pin, gate, promote and evidence on plain registries; then a tag moved under a release. */
async function buildAndRelease(
  say: Narrator,
  dir: string,
  host: string,
  production: RunningRegistry | undefined,
  access: RegistryAccess,
  env: Record<string, string>,
): Promise<void> {
  const layout = new OciLayout(join(dir, 'layout'));
  layout.image('amd64', 'amd64', 'demo application, amd64 build\n');
  layout.image('arm64', 'arm64', 'demo application, arm64 build\n');
  layout.index('release', [
    { tag: 'amd64', architecture: 'amd64' },
    { tag: 'arm64', architecture: 'arm64', variant: 'v8' },
  ]);
  const image = `${host}/demo/shop-api:1.4.2`;
  const digestFile = join(dir, 'pushed.digest');
  push(layout, 'release', image, access, { all: true, digestFile });
  say.print(`Built a two-platform image with umoci and pushed it with skopeo: ${image}`);

  // 1. Right after the push, in the build job: capture the digest and check it against what the push reported.
  const build = say.job({ hostEnv: env });
  const capture = await say.task(
    'capture',
    `DigestCapture@1 (name: capture)  image: ${image}`,
    build,
    'DigestCapture',
    { name: 'capture', inputs: { image, metadataFile: digestFile } },
  );
  say.expect(capture.result === 'Succeeded', 'the capture succeeds');
  const ref = capture.outputs.IMAGE_REF;
  if (!ref) throw new Error('the capture gave no IMAGE_REF: the rest of the demo needs it');
  say.print(
    `\n  Later jobs read $[ dependencies.build.outputs['capture.IMAGE_DIGEST'] ] = ${capture.outputs.IMAGE_DIGEST}`,
  );

  // 2. Deploy by digest, in a deploy job that maps the build's output into a variable: pin the
  //    manifests of the repository, then gate on everything being pinned.
  const deploy = say.job({ hostEnv: env, variables: { imageRef: ref } });
  say.print(
    "\n  The deploy job maps it: variables: { imageRef: $[ dependencies.build.outputs['capture.IMAGE_REF'] ] }",
  );
  const manifest = writeDeployment(
    deploy.sourcesDirectory,
    `${host}/demo/shop-api:1.4.2 # the build tags every release`,
  );
  const before = readFileSync(manifest, 'utf8');
  const pin = await say.task('pin', 'DigestPin@1  images: $(imageRef)', deploy, 'DigestPin', {
    inputs: { files: 'deploy/*.yaml', images: '$(imageRef)' },
  });
  printChanges(say, before, readFileSync(manifest, 'utf8'));
  say.expect(pin.result === 'Succeeded', 'the pin succeeds');
  const gate = await say.task(
    'gate',
    'DigestPin@1  mode: check (the gate before an environment)',
    deploy,
    'DigestPin',
    {
      inputs: { files: 'deploy/*.yaml', mode: 'check', allowedRegistries: host },
    },
  );
  say.expect(gate.result === 'Succeeded', 'the gate passes');

  // 3. Promote the digest to production: byte for byte, re-verified, tags last; again moves nothing.
  if (production) {
    const target = `${production.host}/prod/shop-api:1.4.2`;
    const anonymous = { sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous' };
    const promote = await say.task(
      'promote',
      `DigestPromote@1 (name: promote)  source: $(imageRef)  target: ${target}`,
      deploy,
      'DigestPromote',
      {
        name: 'promote',
        inputs: { source: '$(imageRef)', target, semverTags: 'true', ...anonymous },
      },
    );
    const again = await say.task('promote-again', 'DigestPromote@1 again (nothing to move)', deploy, 'DigestPromote', {
      inputs: { source: '$(imageRef)', target, ...anonymous },
    });
    say.expect(
      promote.result === 'Succeeded' && again.outputs.PROMOTED_BYTES === '0',
      'the promotion succeeds and a second one moves nothing',
    );

    // Release evidence for the production digest, attached to it in the registry, then checked.
    const evidence = await say.task(
      'evidence-production',
      'DigestEvidence@1  image: $(promote.IMAGE_REF)  environment: production',
      deploy,
      'DigestEvidence',
      {
        inputs: {
          image: '$(promote.IMAGE_REF)',
          environment: 'production',
          scanStatus: 'passed',
          approver: 'release-manager@example.com',
          connectionType: 'anonymous',
        },
      },
    );
    const verify = await say.task(
      'verify-production',
      'DigestEvidence@1  mode: verify (before a release or a rollback)',
      deploy,
      'DigestEvidence',
      {
        inputs: {
          image: '$(promote.IMAGE_REF)',
          environment: 'production',
          mode: 'verify',
          connectionType: 'anonymous',
        },
      },
    );
    say.expect(evidence.result === 'Succeeded' && verify.result === 'Succeeded', 'evidence is recorded and verified');

    // What a clean-up of the production repository must leave, from the evidence in it.
    const report = await say.task(
      'retain-report',
      `DigestRetain@1  repository: ${production.host}/prod/shop-api  (report)`,
      deploy,
      'DigestRetain',
      {
        inputs: {
          repository: `${production.host}/prod/shop-api`,
          connectionType: 'anonymous',
          outputPath: '$(Build.ArtifactStagingDirectory)/retain/keep-production.json',
        },
      },
    );
    if (report.outputs.KEEP_LIST_PATH) printKeepList(say, report.outputs.KEEP_LIST_PATH);
    say.expect(
      report.result === 'Succeeded' && report.outputs.KEEP_COUNT === '1',
      'the production release is in the keep list',
    );
  }

  // 4. Someone pushes other bytes under the released tag: the next capture notices.
  const other = new OciLayout(join(dir, 'other'));
  other.image('hotfix', 'amd64', 'bytes nobody tested\n');
  push(other, 'hotfix', image, access);
  const moved = await say.task(
    'moved',
    'DigestCapture@1 after the tag was moved  expectedDigest: $(capture.IMAGE_DIGEST)',
    build,
    'DigestCapture',
    {
      inputs: { image, expectedDigest: '$(capture.IMAGE_DIGEST)' },
    },
  );
  say.expect(moved.result === 'Failed', 'the capture after the tag moved fails');
  say.print(`\n${bold('The release is the digest:')} ${ref}`);
  say.print('On a registry without locks the tag could be moved; on Azure Container Registry DigestLock@1 stops that:');
}

/** Lock two releases on the ACR front, see a push refused, record evidence, and roll back to the first. */
async function lockAndRollBack(say: Narrator, dir: string, acr: AcrGround, env: Record<string, string>): Promise<void> {
  const host = acr.front.host;
  const repository = 'shop/api';
  // Each job may use the project's Azure Resource Manager connection `arm`; its steps sign in with it.
  const signIn = { connectionType: 'azureRM', azureSubscription: 'arm' };
  const job = (): AgentJob => say.job({ hostEnv: env, connections: { arm: secretConnection(acr) } });
  const run = (
    on: AgentJob,
    step: string,
    title: string,
    task: string,
    inputs: Record<string, string>,
    name?: string,
  ): Promise<TaskRun> =>
    say.task(step, title, on, task, { ...(name ? { name } : {}), inputs: { ...signIn, ...inputs } });
  // The lock state as the registry reports it (/acr/v1 tag and manifest properties), read as the admin user.
  const [user, password] = acr.access.creds.split(/:(.*)/) as [string, string];
  const properties = new RegistryClient(host, {
    credential: { kind: 'basic', username: user, password, source: 'the ACR admin user' },
  });
  const lockState = async (tag: string, digest: string): Promise<string> => {
    const t = await getTagProperties(properties, repository, tag);
    const m = await getManifestProperties(properties, repository, parseDigest(digest));
    const attrs = (a: { writeEnabled: boolean; deleteEnabled: boolean }): string =>
      `writeEnabled=${a.writeEnabled} deleteEnabled=${a.deleteEnabled}`;
    return `tag ${tag} -> ${short(t.digest)} ${attrs(t.attributes)}; manifest ${short(m.digest)} ${attrs(m.attributes)}`;
  };
  const showLock = async (tag: string, digest: string): Promise<void> =>
    say.print(`  lock: ${await lockState(tag, digest)}`);

  say.print(
    `\nStarted the ACR test front at https://${host}: it answers as Azure Container Registry does (Entra ID sign-in, /acr/v1 properties, locks)`,
  );
  say.print(
    'before a real distribution registry. The tasks sign in through an Azure Resource Manager service connection (service principal).',
  );
  const layout = new OciLayout(join(dir, 'acr-layout'));
  layout.image('1.3.9', 'amd64', 'shop api release 1.3.9\n');
  layout.image('1.4.2', 'amd64', 'shop api release 1.4.2\n');
  layout.image('1.5.0', 'amd64', 'shop api release 1.5.0\n');
  layout.image('unreviewed', 'amd64', 'bytes nobody reviewed\n');

  // Where each release's evidence was written (EVIDENCE_PATH), in its job's staging directory.
  const evidenceFiles = new Map<string, string>();

  /** Push, capture, lock and record evidence for one release; its digest. */
  const release = async (tag: string, extra: Record<string, string> = {}): Promise<string> => {
    const image = `${host}/${repository}:${tag}`;
    await pushAsync(layout, tag, image, acr.access);
    say.print(`\nPushed release ${tag} with skopeo: ${image}`);
    const releaseJob = job();
    const capture = await run(
      releaseJob,
      `capture-${tag}`,
      `DigestCapture@1 (name: capture)  image: ${image}`,
      'DigestCapture',
      { image },
      'capture',
    );
    const digest = capture.outputs.IMAGE_DIGEST ?? '';
    say.expect(capture.result === 'Succeeded', `release ${tag} is captured`);
    const lock = await run(
      releaseJob,
      `lock-${tag}`,
      `DigestLock@1  image: ${image}  expectedDigest: $(capture.IMAGE_DIGEST)`,
      'DigestLock',
      { image, expectedDigest: '$(capture.IMAGE_DIGEST)' },
    );
    say.expect(lock.outputs.IMAGE_LOCKED === 'true', `release ${tag} is locked`);
    await showLock(tag, digest);
    const evidence = await run(
      releaseJob,
      `evidence-${tag}`,
      `DigestEvidence@1  image: ${image}@$(capture.IMAGE_DIGEST)  environment: production${extra.rollbackDigest ? `  rollbackDigest: ${extra.rollbackDigest}` : ''}`,
      'DigestEvidence',
      {
        image: `${image}@$(capture.IMAGE_DIGEST)`,
        environment: 'production',
        scanStatus: 'passed',
        approver: 'Release Manager <release-manager@example.com>',
        outputPath: `$(Build.ArtifactStagingDirectory)/evidence/${tag}.json`,
        ...extra,
      },
    );
    say.expect(evidence.result === 'Succeeded', `evidence for ${tag} is recorded`);
    await showLock(tag, digest);
    evidenceFiles.set(tag, evidence.outputs.EVIDENCE_PATH ?? '');
    return digest;
  };

  // 5. Release 1.3.9, the one before; then 1.4.2: captured, locked, and a push of other bytes onto its tag refused by the registry.
  const oldest = await release('1.3.9');
  const first = await release('1.4.2');
  const tagged = `${host}/${repository}:1.4.2`;
  const refused = await say.step(`skopeo copy of other bytes onto ${tagged} (a push over the locked tag)`, () =>
    pushAsync(layout, 'unreviewed', tagged, acr.access, false),
  );
  const reason =
    refused.stderr.split('\n').find((line) => /denied|disallowed|405/i.test(line)) ?? refused.stderr.trim();
  say.print(`  skopeo exit code ${refused.code}: ${reason.trim()}`);
  const still = sha256Hex(await inspectRawAsync(tagged, acr.access));
  say.print(`  the tag still names ${still} (release 1.4.2)`);
  say.expect(refused.code !== 0 && still === first, 'the registry refuses the push and the tag keeps its digest');
  await showLock('1.4.2', first);

  // 6. Release 1.5.0: its evidence names 1.4.2 as the rollback target (the last release that passed its scan).
  const second = await release('1.5.0', { rollbackDigest: 'auto' });
  const recorded = JSON.parse(readFileSync(evidenceFiles.get('1.5.0') ?? '', 'utf8')) as {
    predicate?: { rollback?: { digest?: string | null } };
  };
  const target = recorded.predicate?.rollback?.digest ?? '';
  say.print(`  rollback target in the evidence of 1.5.0: ${target}`);
  say.expect(target === first, 'the evidence of 1.5.0 names 1.4.2 as its rollback target');

  const rollbackJob = job();
  const manifest = writeDeployment(rollbackJob.sourcesDirectory, `${host}/${repository}@${second} # production`);
  say.print(`\nProduction runs release 1.5.0 (${second}). It misbehaves: roll back to the target its evidence names,`);
  say.print(
    'as templates/rollback-to-digest.yml does: check the target still exists, verify its evidence, pin, record.',
  );

  // 7. The rollback: the target must still exist and its evidence must still hold (scan passed, locked).
  const exists = await run(
    rollbackJob,
    'rollback',
    `DigestCapture@1 (name: rollback)  image: ${host}/${repository}@${short(target)}`,
    'DigestCapture',
    { image: `${host}/${repository}@${target}` },
    'rollback',
  );
  const verify = await run(
    rollbackJob,
    'rollback-verify',
    'DigestEvidence@1  mode: verify  image: $(rollback.IMAGE_REF)  environment: production',
    'DigestEvidence',
    {
      mode: 'verify',
      image: '$(rollback.IMAGE_REF)',
      environment: 'production',
    },
  );
  say.expect(
    exists.result === 'Succeeded' && verify.result === 'Succeeded',
    'the rollback target exists and its evidence verifies',
  );
  await showLock('1.4.2', target);
  const before = readFileSync(manifest, 'utf8');
  const pin = await say.task('rollback-pin', 'DigestPin@1  images: $(rollback.IMAGE_REF)', rollbackJob, 'DigestPin', {
    inputs: { files: 'deploy/*.yaml', images: '$(rollback.IMAGE_REF)' },
  });
  printChanges(say, before, readFileSync(manifest, 'utf8'));
  say.expect(
    pin.result === 'Succeeded' && readFileSync(manifest, 'utf8').includes(first),
    'the deployment is pinned back to 1.4.2',
  );
  const evidence = await run(
    rollbackJob,
    'rollback-evidence',
    'DigestEvidence@1  image: $(rollback.IMAGE_REF)  environment: production  rollbackDigest: auto',
    'DigestEvidence',
    {
      image: '$(rollback.IMAGE_REF)',
      environment: 'production',
      scanStatus: 'passed',
      approver: 'Release Manager <release-manager@example.com>',
      rollbackDigest: 'auto',
      outputPath: '$(Build.ArtifactStagingDirectory)/evidence/rollback.json',
    },
  );
  say.expect(evidence.result === 'Succeeded', 'the rollback is recorded');
  const rolledBack = JSON.parse(readFileSync(evidence.outputs.EVIDENCE_PATH ?? '', 'utf8')) as {
    predicate?: { rollback?: { digest?: string | null } };
  };
  say.print(
    `  the rollback's own evidence names ${rolledBack.predicate?.rollback?.digest ?? 'no digest'} (1.5.0) as the way back`,
  );
  say.expect(rolledBack.predicate?.rollback?.digest === second, "the rollback's evidence names 1.5.0 as the way back");
  await showLock('1.4.2', first);
  say.print(`\n${bold('Rolled back to')} ${host}/${repository}@${first}: locked, verified, and recorded.`);

  // 8. Before a scheduled clean-up: keep what runs and what a rollback goes to, undeletable.
  say.print(
    '\nA clean-up of the repository is scheduled. Before it, keep every digest that is deployed or is a rollback target (templates/retention.yml):',
  );
  const retain = await run(
    job(),
    'retain-protect',
    `DigestRetain@1  repository: ${host}/${repository}  action: protect  keepReleases: 2  keepDays: 0`,
    'DigestRetain',
    {
      repository: `${host}/${repository}`,
      action: 'protect',
      keepReleases: '2',
      keepDays: '0',
      outputPath: '$(Build.ArtifactStagingDirectory)/retain/keep-acr.json',
    },
  );
  const keepPath = retain.outputs.KEEP_LIST_PATH;
  if (keepPath) printKeepList(say, keepPath);
  const kept = keepPath ? ((JSON.parse(readFileSync(keepPath, 'utf8')) as { digests?: string[] }).digests ?? []) : [];
  say.expect(
    retain.result === 'Succeeded' && kept.includes(first) && kept.includes(second) && !kept.includes(oldest),
    'the running release and its rollback target are kept, the oldest is not',
  );
  const undeletable = await Promise.all(
    kept.map(
      async (digest) =>
        (await getManifestProperties(properties, repository, parseDigest(digest))).attributes.deleteEnabled === false,
    ),
  );
  say.print(
    `  deleteEnabled read back from /acr/v1 for the kept digests: ${undeletable.every(Boolean) ? 'false for each' : 'NOT false for each'}`,
  );
  say.expect(undeletable.every(Boolean), 'every kept digest reads back deleteEnabled=false');
}

/** The keep list DigestRetain@1 wrote: each kept digest, for which environment, and why. */
function printKeepList(say: Narrator, path: string): void {
  const list = JSON.parse(readFileSync(path, 'utf8')) as {
    keep?: { digest: string; environment: string; reasons: string[] }[];
  };
  for (const entry of list.keep ?? [])
    say.print(`  keep ${short(entry.digest)} for ${entry.environment}: ${entry.reasons.join(', ')}`);
}

function writeDeployment(work: string, image: string): string {
  mkdirSync(join(work, 'deploy'), { recursive: true });
  const manifest = join(work, 'deploy', 'deployment.yaml');
  const lines = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: shop-api',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: api',
    `          image: ${image}`,
    '',
  ];
  writeFileSync(manifest, lines.join('\n'));
  return manifest;
}

function printChanges(say: Narrator, before: string, after: string): void {
  const next = after.split('\n');
  before.split('\n').forEach((line, i) => {
    if (line !== next[i]) say.print(`  - ${line.trim()}\n  + ${next[i]?.trim() ?? ''}`);
  });
}

if (require.main === module) {
  // Ctrl-C still stops the registries (registry.ts kills them on exit) and removes the scratch folder.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  runDemo({ print: (line) => console.log(line) })
    .then((failed) => {
      if (failed.length > 0) {
        console.error(`\nNot as expected: ${failed.join('; ')}`);
        process.exitCode = 1;
      }
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
