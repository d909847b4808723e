import assert from 'node:assert/strict';
import { join } from 'node:path';
import { captureTask } from '../../../src/tasks/DigestCapture/capture';
import type { TestGround } from '../../../lab/ground';
import { testGround } from '../../../lab/ground';
import { inspectRaw, push, sha256Hex } from '../../../lab/images';
import type { FakeContextOptions } from '../fake-context';
import { failedWith, itRefuses, runOperation, succeeded } from '../fake-context';

// DigestCapture@1's decisions over a fake TaskContext, against the test ground's real registries:
// the inputs it refuses, the outputs and summary of a capture, and the check against what the build
// reported. The packaged task, as the agent runs it: test/packaged/capture.test.ts.

const REPOSITORY = 'fast/capture';

describe('DigestCapture@1 decisions (fake TaskContext)', function () {
  this.timeout(60_000);
  let g: TestGround;
  before(async () => {
    g = await testGround();
    push(g.layout, 'amd64', `${g.open.host}/${REPOSITORY}:oci`, g.openAccess);
    push(g.layout, 'multi', `${g.open.host}/${REPOSITORY}:multi`, g.openAccess, { all: true });
    push(g.layout, 'amd64', `${g.basic.host}/${REPOSITORY}:oci`, g.basicAccess);
  });

  const capture = (inputs: Record<string, string>, options: Omit<FakeContextOptions, 'task' | 'inputs'> = {}) =>
    runOperation(captureTask, { task: 'DigestCapture', inputs, ...options });
  const digestOf = (ref: string, access = g.openAccess) => sha256Hex(inspectRaw(ref, access));

  describe('refuses inputs before asking any registry', () => {
    // The registry in these inputs does not exist: a request would fail otherwise.
    itRefuses(capture, [
      [
        'no image',
        { connectionType: 'anonymous' },
        /^The input image is required and is empty\. Set it, for example image: myacr\.azurecr\.io\/app:\$\(Build\.BuildId\)$/,
      ],
      [
        'an unknown connectionType',
        { image: 'nowhere.invalid/app:1', connectionType: 'docker' },
        /^The input connectionType has the value "docker": use one of auto, dockerRegistry, anonymous, azureRM\.$/,
      ],
      [
        'an expectedDigest that is not a digest',
        { image: 'nowhere.invalid/app:1', connectionType: 'anonymous', expectedDigest: 'sha256:abc' },
        /^The input expectedDigest "sha256:abc" is not a valid digest: the hex part has 3 characters/,
        'INVALID_DIGEST',
      ],
    ]);
  });

  it('captures an image manifest: every output, the log, and the summary', async () => {
    const image = `${g.open.host}/${REPOSITORY}:oci`;
    const digest = digestOf(image);
    const run = await capture({ image, connectionType: 'anonymous' });
    assert.equal(succeeded(run), `${image} is ${digest} (${g.open.host}/${REPOSITORY}@${digest}).`);
    assert.deepEqual(run.context.outputs, {
      IMAGE_DIGEST: digest,
      IMAGE_REF: `${g.open.host}/${REPOSITORY}@${digest}`,
      IMAGE_TAG: 'oci',
      IMAGE_REGISTRY: g.open.host,
      IMAGE_REPOSITORY: REPOSITORY,
      IMAGE_MEDIA_TYPE: 'application/vnd.oci.image.manifest.v1+json',
      IMAGE_PLATFORMS: '{}',
    });
    assert.ok(
      run.context.log.includes(
        `Registry: ${g.open.host}/${REPOSITORY} (anonymous access (connectionType: anonymous)).`,
      ),
      run.context.log.join('\n'),
    );
    assert.ok(run.context.log.includes('Verified against the sha256 of the manifest bytes the registry served.'));
    const summary = run.context.summary('DigestCapture');
    assert.match(summary, /^### Image digest captured\n/);
    assert.ok(summary.includes(`| Digest | \`${digest}\` |`));
    assert.ok(!summary.includes('| Platform |'), 'a single manifest has no platform table');
  });

  it('an image without a tag is captured as :latest', async () => {
    push(g.layout, 'amd64', `${g.open.host}/${REPOSITORY}:latest`, g.openAccess);
    const run = await capture({ image: `${g.open.host}/${REPOSITORY}`, connectionType: 'anonymous' });
    succeeded(run);
    assert.equal(run.context.outputs.IMAGE_TAG, 'latest');
  });

  it('captures an index with the digest of each platform, in the outputs and the summary', async () => {
    const image = `${g.open.host}/${REPOSITORY}:multi`;
    const index = JSON.parse(inspectRaw(image, g.openAccess).toString('utf8')) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const run = await capture({ image, connectionType: 'anonymous' });
    succeeded(run);
    const platforms = { 'linux/amd64': index.manifests[0]!.digest, 'linux/arm64/v8': index.manifests[1]!.digest };
    assert.deepEqual(JSON.parse(run.context.outputs.IMAGE_PLATFORMS!), platforms);
    assert.equal(run.context.outputs.IMAGE_MEDIA_TYPE, 'application/vnd.oci.image.index.v1+json');
    assert.ok(run.context.log.includes(`  linux/arm64/v8: ${platforms['linux/arm64/v8']}`));
    assert.match(
      run.context.summary('DigestCapture'),
      /\| Platform \| Digest \|\n\|---\|---\|\n\| linux\/amd64 \| `sha256:[0-9a-f]{64}` \|\n\| linux\/arm64\/v8 \|/,
    );
  });

  it('checks the digest against expectedDigest and the build metadata file, and says so', async () => {
    const image = `${g.open.host}/${REPOSITORY}:oci`;
    const metadataFile = join(g.dir, 'fast-capture.digest');
    push(g.layout, 'amd64', image, g.openAccess, { digestFile: metadataFile });
    const run = await capture({ image, connectionType: 'anonymous', expectedDigest: digestOf(image), metadataFile });
    succeeded(run);
    const checked = `the sha256 of the manifest bytes the registry served, expectedDigest, metadataFile ${metadataFile}`;
    assert.ok(run.context.log.includes(`Verified against ${checked}.`), run.context.log.join('\n'));
    assert.ok(run.context.summary('DigestCapture').includes(`| Verified against | ${checked.replace(/, /g, '; ')} |`));
  });

  it('a tag moved since the build: fails naming both digests, and sets no output', async () => {
    const image = `${g.open.host}/${REPOSITORY}:oci`;
    const reported = `sha256:${'0'.repeat(64)}`;
    const run = await capture({ image, connectionType: 'anonymous', expectedDigest: reported });
    failedWith(
      run,
      'EXPECTED_DIGEST_MISMATCH',
      new RegExp(
        `^The registry holds ${digestOf(image)} under ${image.replace(/\./g, '\\.')}, but expectedDigest says ${reported}\\. .*Do not release this tag`,
      ),
    );
    assert.deepEqual(run.context.outputs, {});
    assert.deepEqual(run.context.summaries, []);
  });

  it('signs in with a Docker Registry service connection, hands the password to the agent to mask, and never logs it', async () => {
    const image = `${g.basic.host}/${REPOSITORY}:oci`;
    const connection = {
      url: `https://${g.basic.host}`,
      scheme: 'UsernamePassword',
      parameters: { username: g.user.username, password: g.user.password, registry: `https://${g.basic.host}` },
    };
    const run = await capture(
      { image, connectionType: 'dockerRegistry', dockerRegistryServiceConnection: 'reg-conn' },
      { endpoints: { 'reg-conn': connection } },
    );
    succeeded(run);
    assert.equal(run.context.outputs.IMAGE_DIGEST, digestOf(image, g.basicAccess));
    assert.ok(run.context.secrets.includes(g.user.password));
    assert.ok(
      run.context.log.includes(`Registry: ${g.basic.host}/${REPOSITORY} (service connection "reg-conn").`),
      run.context.log.join('\n'),
    );
    assert.ok(!run.context.visibleText().includes(g.user.password));
  });

  it('a registry that asks for sign-in, with none given, fails saying which connection to set', async () => {
    const run = await capture({ image: `${g.basic.host}/${REPOSITORY}:oci`, connectionType: 'anonymous' });
    failedWith(
      run,
      'UNAUTHORIZED',
      new RegExp(
        `^The registry ${g.basic.host} requires sign-in for repository:${REPOSITORY}:pull and no credentials were found .*Set connectionType to dockerRegistry`,
      ),
    );
    assert.deepEqual(run.context.outputs, {});
  });
});
