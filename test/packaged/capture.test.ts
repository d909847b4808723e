import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayout, inspectRaw, push, sha256Hex } from '../../lab/images';
import type { TestGround } from '../../lab/ground';
import { pushSamples, testGround } from '../../lab/ground';
import { startProxy } from '../../lab/proxy';
import type { ServiceConnection } from '../../lab/agent';
import { AgentJob, connectionId, runTask } from '../../lab/agent';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';

// DigestCapture@1 run from the packaged .vsix against real registries, as the agent runs it.

describe('DigestCapture@1 (packaged task against a real registry)', function () {
  this.timeout(120_000);
  let g: TestGround;

  before(async () => {
    g = await testGround();
    pushSamples(g, g.open, g.openAccess, 'team/app');
    pushSamples(g, g.basic, g.basicAccess, 'team/app');
  });

  /** One DigestCapture step; `variables` are pipeline variables (DOCKER_CONFIG, as Docker@2 login sets it for later steps). */
  const capture = (
    inputs: Record<string, string>,
    variables: Record<string, string> = {},
    connections: Record<string, ServiceConnection> = {},
  ) => runTask('DigestCapture', { inputs, variables, connections, hostEnv: g.hostEnv });

  it('captures the digest of an OCI image manifest: the sha256 of the bytes skopeo inspect --raw returns', async () => {
    const raw = inspectRaw(`${g.open.host}/team/app:oci`, g.openAccess);
    const run = await capture({ image: `${g.open.host}/team/app:oci`, connectionType: 'anonymous' });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(raw));
    assert.equal(run.outputs.IMAGE_REF, `${g.open.host}/team/app@${sha256Hex(raw)}`);
    assert.equal(run.outputs.IMAGE_TAG, 'oci');
    assert.equal(run.outputs.IMAGE_REGISTRY, g.open.host);
    assert.equal(run.outputs.IMAGE_REPOSITORY, 'team/app');
    assert.equal(run.outputs.IMAGE_MEDIA_TYPE, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(run.outputs.IMAGE_PLATFORMS, '{}');
    assert.equal(run.summaries.length, 1);
    assert.ok(run.summaries[0]!.includes(sha256Hex(raw)), 'the build summary shows the digest');
  });

  it('captures a Docker v2 schema 2 manifest with its media type', async () => {
    const raw = inspectRaw(`${g.open.host}/team/app:v2s2`, g.openAccess);
    const run = await capture({ image: `${g.open.host}/team/app:v2s2`, connectionType: 'anonymous' });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(raw));
    assert.equal(run.outputs.IMAGE_MEDIA_TYPE, 'application/vnd.docker.distribution.manifest.v2+json');
  });

  it('captures an OCI index and the digest of each platform', async () => {
    const raw = inspectRaw(`${g.open.host}/team/app:multi`, g.openAccess);
    const index = JSON.parse(raw.toString('utf8')) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const run = await capture({ image: `${g.open.host}/team/app:multi`, connectionType: 'anonymous' });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(raw));
    assert.equal(run.outputs.IMAGE_MEDIA_TYPE, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(JSON.parse(run.outputs.IMAGE_PLATFORMS!), {
      'linux/amd64': index.manifests.find((m) => m.platform.architecture === 'amd64')!.digest,
      'linux/arm64/v8': index.manifests.find((m) => m.platform.architecture === 'arm64')!.digest,
    });
  });

  it('signs in with a Docker Registry service connection and never prints the password', async () => {
    const raw = inspectRaw(`${g.basic.host}/team/app:oci`, g.basicAccess);
    const run = await capture(
      {
        image: `${g.basic.host}/team/app:oci`,
        connectionType: 'dockerRegistry',
        dockerRegistryServiceConnection: 'reg-conn',
      },
      {},
      {
        'reg-conn': {
          url: `https://${g.basic.host}`,
          scheme: 'UsernamePassword',
          parameters: { username: g.user.username, password: g.user.password, registry: `https://${g.basic.host}` },
        },
      },
    );
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(raw));
    assert.ok(run.secrets.includes(g.user.password), 'the password is handed to the agent for masking');
    assert.ok(!visibleOutput(run).includes(g.user.password));
  });

  it('signs in with the docker config.json that docker login leaves (connectionType auto)', async () => {
    const dockerConfig = join(g.dir, 'docker-config-good');
    mkdirSync(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${g.user.username}:${g.user.password}`).toString('base64');
    writeFileSync(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [`https://${g.basic.host}`]: { auth } } }),
    );
    const run = await capture({ image: `${g.basic.host}/team/app:v2s2` }, { DOCKER_CONFIG: dockerConfig });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(inspectRaw(`${g.basic.host}/team/app:v2s2`, g.basicAccess)));
    assert.ok(!visibleOutput(run).includes(g.user.password));
  });

  it('fails on a wrong password, naming the connection and not the password', async () => {
    const wrong = 'wr0ng-Secret-Value';
    const run = await capture(
      {
        image: `${g.basic.host}/team/app:oci`,
        connectionType: 'dockerRegistry',
        dockerRegistryServiceConnection: 'reg-conn',
      },
      {},
      {
        'reg-conn': {
          url: `https://${g.basic.host}`,
          scheme: 'UsernamePassword',
          parameters: { username: g.user.username, password: wrong },
        },
      },
    );
    failedWith(
      run,
      'UNAUTHORIZED',
      `refused the credentials from service connection "${connectionId('reg-conn')}"`,
      g.user.username,
    );
    assert.ok(!visibleOutput(run).includes(wrong));
  });

  it('fails without credentials on a registry that needs them, saying how to sign in', async () => {
    const run = await capture({ image: `${g.basic.host}/team/app:oci`, connectionType: 'anonymous' });
    failedWith(run, 'UNAUTHORIZED', 'requires sign-in', 'dockerRegistry');
  });

  it('fails on an unknown tag', async () => {
    const run = await capture({ image: `${g.open.host}/team/app:no-such-tag`, connectionType: 'anonymous' });
    failedWith(run, 'MANIFEST_UNKNOWN', `${g.open.host}/team/app:no-such-tag`);
  });

  it('fails on an unknown repository', async () => {
    const run = await capture({ image: `${g.open.host}/team/no-such-repo:1.0`, connectionType: 'anonymous' });
    failedWith(run, 'NAME_UNKNOWN', `${g.open.host}/team/no-such-repo`);
  });

  it('fails on a malformed reference, naming the input and the bad part', async () => {
    const run = await capture({ image: `${g.open.host}/Team/App:1.0` });
    failedWith(run, 'INVALID_REFERENCE', 'input image', 'must be lowercase');
  });

  it('fails when the registry cannot be reached', async () => {
    const run = await capture({ image: '127.0.0.1:9/team/app:1.0', connectionType: 'anonymous' });
    failedWith(run, 'UNREACHABLE', '127.0.0.1:9');
  });

  it('refuses manifest bytes that do not match the digest header (a tampering proxy)', async () => {
    const proxy = await startProxy(g.open.url, g.certs, (method, path, status, _headers, body) =>
      method === 'GET' && path.includes('/manifests/') && status === 200
        ? Buffer.concat([body, Buffer.from('\n')])
        : body,
    );
    try {
      const run = await capture({ image: `${proxy.host}/team/app:oci`, connectionType: 'anonymous' });
      failedWith(run, 'DIGEST_MISMATCH', 'Docker-Content-Digest');
    } finally {
      await proxy.close();
    }
  });

  describe('verification against what the build reported', () => {
    let digest: string;
    before(() => {
      digest = sha256Hex(inspectRaw(`${g.open.host}/team/app:oci`, g.openAccess));
    });

    it('passes when expectedDigest matches', async () => {
      const run = await capture({
        image: `${g.open.host}/team/app:oci`,
        connectionType: 'anonymous',
        expectedDigest: digest,
      });
      succeeded(run);
      assert.ok(run.stdout.includes('expectedDigest'));
    });

    it('reads a buildx --metadata-file and a skopeo --digestfile', async () => {
      const buildx = join(g.dir, 'buildx-metadata.json');
      writeFileSync(
        buildx,
        JSON.stringify({ 'containerimage.digest': digest, 'image.name': `${g.open.host}/team/app:oci` }),
      );
      succeeded(
        await capture({ image: `${g.open.host}/team/app:oci`, connectionType: 'anonymous', metadataFile: buildx }),
      );

      const digestFile = join(g.dir, 'skopeo-digest');
      push(g.layout, 'arm64', `${g.open.host}/team/skopeo:1.0`, g.openAccess, { digestFile });
      const run = await capture({
        image: `${g.open.host}/team/skopeo:1.0`,
        connectionType: 'anonymous',
        metadataFile: digestFile,
      });
      succeeded(run);
      assert.equal(run.outputs.IMAGE_DIGEST, sha256Hex(inspectRaw(`${g.open.host}/team/skopeo:1.0`, g.openAccess)));
    });

    it('reads a metadataFile given relative to the repository, and takes an empty one as not given (the agent roots both)', async () => {
      const job = new AgentJob({ hostEnv: g.hostEnv });
      try {
        mkdirSync(join(job.sourcesDirectory, 'out'));
        writeFileSync(
          join(job.sourcesDirectory, 'out', 'metadata.json'),
          JSON.stringify({ 'containerimage.digest': digest }),
        );
        const relative = await job.run('DigestCapture', {
          inputs: {
            image: `${g.open.host}/team/app:oci`,
            connectionType: 'anonymous',
            metadataFile: 'out/metadata.json',
          },
        });
        succeeded(relative);
        assert.match(relative.log, /metadataFile .*out\/metadata\.json/);
        const empty = await job.run('DigestCapture', {
          inputs: { image: `${g.open.host}/team/app:oci`, connectionType: 'anonymous', metadataFile: '' },
        });
        succeeded(empty);
        assert.doesNotMatch(empty.log, /metadataFile/);
      } finally {
        job.dispose();
      }
    });

    it('fails, naming both digests, when the tag was moved after the push', async () => {
      const digestFile = join(g.dir, 'moved-digest');
      push(g.layout, 'amd64', `${g.open.host}/team/moved:release`, g.openAccess, { digestFile });
      const pushed = sha256Hex(inspectRaw(`${g.open.host}/team/moved:release`, g.openAccess));
      // Someone else pushes other bytes under the same tag.
      const other = new OciLayout(join(g.dir, 'images', 'other'));
      other.image('evil', 'amd64', 'not what was tested\n');
      push(other, 'evil', `${g.open.host}/team/moved:release`, g.openAccess);
      const now = sha256Hex(inspectRaw(`${g.open.host}/team/moved:release`, g.openAccess));
      assert.notEqual(now, pushed);

      const byInput = await capture({
        image: `${g.open.host}/team/moved:release`,
        connectionType: 'anonymous',
        expectedDigest: pushed,
      });
      failedWith(byInput, 'EXPECTED_DIGEST_MISMATCH', pushed, now, 'expectedDigest');
      const byFile = await capture({
        image: `${g.open.host}/team/moved:release`,
        connectionType: 'anonymous',
        metadataFile: digestFile,
      });
      failedWith(byFile, 'EXPECTED_DIGEST_MISMATCH', pushed, now, 'metadataFile');
    });

    it('refuses a metadataFile that is /dev/zero, a named pipe or over the limit without reading it, naming the input, the size and the limit', async () => {
      const fifo = join(g.dir, 'metadata.pipe');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const huge = join(g.dir, 'huge-metadata.json');
      writeFileSync(huge, '');
      truncateSync(huge, 16 * 1024 * 1024 + 1);
      const cases: Array<[string, string]> = [
        ['/dev/zero', 'it is a character device, not a regular file; only regular files are read.'],
        [fifo, 'it is a named pipe, not a regular file; only regular files are read.'],
        [
          huge,
          'the file is 16.0 MiB (16777217 bytes), over the 16 MiB limit for a build metadata file; it was not read.',
        ],
      ];
      for (const [metadataFile, why] of cases) {
        const run = await capture({ image: `${g.open.host}/team/app:oci`, connectionType: 'anonymous', metadataFile });
        failedWith(
          run,
          'METADATA_FILE',
          `The input metadataFile names "${metadataFile}": ${why} Check the path, and that the build step wrote it`,
        );
      }
    });

    it('rejects an expectedDigest that is not a digest, naming the input', async () => {
      const run = await capture({
        image: `${g.open.host}/team/app:oci`,
        connectionType: 'anonymous',
        expectedDigest: 'sha256:ABC',
      });
      failedWith(run, 'INVALID_DIGEST', 'input expectedDigest', 'sha256:ABC');
    });
  });
});
