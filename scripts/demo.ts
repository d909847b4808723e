import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCertificates, testDir } from '../test/support/ground';
import { OciLayout, RegistryAccess, push } from '../test/support/images';
import { RunningRegistry, startRegistry } from '../test/support/registry';
import { AgentJob, TaskRun, runTask } from '../test/support/agent';

// npm run demo: the main job, end to end, on this machine. A local registry (or DEMO_REGISTRY), an
// image built with umoci and pushed with skopeo, then the tasks from the packaged .vsix run the way
// the agent runs them, and what a pipeline would see is printed.

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);

function show(title: string, run: TaskRun): void {
  console.log(`\n${bold(`── ${title}`)}`);
  for (const cmd of run.commands) {
    if (cmd.command === 'task.setvariable') console.log(`  ${cmd.properties.variable} = ${cmd.message}`);
    if (cmd.command === 'task.issue') console.log(`  ${cmd.properties.type}: ${cmd.message}`);
  }
  console.log(`  result: ${run.result}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'demo-'));
  const certs = runCertificates();
  let registry: RunningRegistry | undefined;
  let production: RunningRegistry | undefined;
  let host: string;
  let access: RegistryAccess;
  let env: Record<string, string>;
  if (process.env.DEMO_REGISTRY) {
    host = process.env.DEMO_REGISTRY;
    access = { certDir: '/etc/containers/certs.d' };
    env = {};
    console.log(`Using the registry ${host} (DEMO_REGISTRY); it must accept anonymous pushes over TLS the system trusts.`);
  } else {
    [registry, production] = await Promise.all([startRegistry(join(dir, 'registry'), certs), startRegistry(join(dir, 'production'), certs)]);
    host = registry.host;
    access = { certDir: certs.certDir };
    env = { NODE_EXTRA_CA_CERTS: certs.caFile };
    console.log(`Started two local registries (CNCF distribution, TLS with a CA made for this run): build ${registry.url}, production ${production.url}`);
  }

  try {
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
    console.log(`Built a two-platform image with umoci and pushed it with skopeo: ${image}`);

    // 1. Right after the push: capture the digest and check it against what the push reported.
    const capture = await runTask('DigestCapture', { inputs: { image, metadataFile: digestFile }, hostEnv: env });
    show('DigestCapture@1 (name: capture)  image: ' + image, capture);
    if (capture.result !== 'Succeeded') throw new Error('the capture failed');
    const ref = capture.outputs.IMAGE_REF!;
    console.log(`\n  Later jobs read $[ dependencies.build.outputs['capture.IMAGE_DIGEST'] ] = ${capture.outputs.IMAGE_DIGEST}`);

    // 2. Deploy by digest: pin the manifests, then gate on everything being pinned.
    const deployJob = new AgentJob();
    const work = deployJob.sourcesDirectory;
    mkdirSync(join(work, 'deploy'), { recursive: true });
    const manifest = join(work, 'deploy', 'deployment.yaml');
    writeFileSync(
      manifest,
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: shop-api',
        'spec:',
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: api',
        `          image: ${host}/demo/shop-api:1.4.2 # the build tags every release`,
        '',
      ].join('\n'),
    );
    const before = readFileSync(manifest, 'utf8');
    const pin = await deployJob.run('DigestPin', { inputs: { files: 'deploy/*.yaml', images: ref } });
    show('DigestPin@1  images: $(capture.IMAGE_REF)', pin);
    const after = readFileSync(manifest, 'utf8');
    const changed = before.split('\n').map((line, i) => [line, after.split('\n')[i]] as const).filter(([a, b]) => a !== b);
    for (const [a, b] of changed) console.log(`  - ${a.trim()}\n  + ${b!.trim()}`);
    const gate = await deployJob.run('DigestPin', { inputs: { files: 'deploy/*.yaml', mode: 'check', allowedRegistries: host } });
    show('DigestPin@1  mode: check (the gate before an environment)', gate);
    deployJob.dispose();

    // 3. Promote the digest to production: byte for byte, re-verified, tags last; again moves nothing.
    if (production) {
      const target = `${production.host}/prod/shop-api:1.4.2`;
      const promote = await runTask('DigestPromote', { inputs: { source: ref, target, semverTags: 'true', sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous' }, hostEnv: env });
      show(`DigestPromote@1  source: $(capture.IMAGE_REF)  target: ${target}`, promote);
      const again = await runTask('DigestPromote', { inputs: { source: ref, target, sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous' }, hostEnv: env });
      show('DigestPromote@1 again (nothing to move)', again);
      if (promote.result !== 'Succeeded' || again.outputs.PROMOTED_BYTES !== '0') process.exitCode = 1;

      // Release evidence for the production digest, attached to it in the registry, then checked.
      const prodRef = promote.outputs.IMAGE_REF!;
      const evidence = await runTask('DigestEvidence', {
        inputs: { image: prodRef, environment: 'production', scanStatus: 'passed', approver: 'release-manager@example.com', connectionType: 'anonymous' },
        hostEnv: env,
      });
      show('DigestEvidence@1  image: $(promote.IMAGE_REF)  environment: production', evidence);
      const verify = await runTask('DigestEvidence', { inputs: { image: prodRef, environment: 'production', mode: 'verify', connectionType: 'anonymous' }, hostEnv: env });
      show('DigestEvidence@1  mode: verify (before a release or a rollback)', verify);
      if (evidence.result !== 'Succeeded' || verify.result !== 'Succeeded') process.exitCode = 1;
    }

    // 4. Someone pushes other bytes under the released tag: the next capture notices.
    const other = new OciLayout(join(dir, 'other'));
    other.image('hotfix', 'amd64', 'bytes nobody tested\n');
    push(other, 'hotfix', image, access);
    const moved = await runTask('DigestCapture', { inputs: { image, expectedDigest: capture.outputs.IMAGE_DIGEST! }, hostEnv: env });
    show('DigestCapture@1 after the tag was moved  expectedDigest: $(capture.IMAGE_DIGEST)', moved);

    console.log(`\n${bold('The release is the digest:')} ${ref}`);
    if (moved.result === 'Succeeded' || gate.result !== 'Succeeded' || pin.result !== 'Succeeded') process.exitCode = 1;
  } finally {
    registry?.stop();
    production?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
