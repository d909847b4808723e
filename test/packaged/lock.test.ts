import assert from 'node:assert/strict';
import { join } from 'node:path';
import { applyLock } from '../../src/acr/locks';
import { resolveCredential } from '../../src/connection/credentials';
import { parseDigest } from '../../src/reference/digest';
import { parseReference } from '../../src/reference/reference';
import { RegistryClient } from '../../src/registry/client';
import { captureDigest } from '../../src/capture/resolve';
import type { AcrGround } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { OciLayout, deleteAsync, inspectRawAsync, pushAsync, sha256Hex } from '../../lab/images';
import type { TaskRun } from '../../lab/agent';
import { connectionId, runTask } from '../../lab/agent';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import { endpointReader, secretConnection } from '../../lab/azurerm';

// DigestLock@1 through the ACR front: the locks it sets must make the registry refuse pushes over
// the tag and deletes of the manifest, exactly as ACR does, and nothing about a lock that did not
// take may look like success.

describe('DigestLock@1 (packaged task against the ACR front)', function () {
  this.timeout(180_000);
  let g: TestGround;
  let acr: AcrGround;
  let other: OciLayout;

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-lock');
    other = new OciLayout(join(g.dir, 'images', 'lock-other'));
    other.image('other', 'amd64', 'other bytes, never released\n');
  });
  after(() => acr.close());

  const lock = (inputs: Record<string, string>): Promise<TaskRun> =>
    runTask('DigestLock', {
      inputs: { connectionType: 'azureRM', azureSubscription: 'arm', ...inputs },
      connections: { arm: secretConnection(acr) },
      hostEnv: g.hostEnv,
    });

  it('locks tag and manifest so a push over the tag and a delete are refused; twice is "already locked"; unlock lets the push through', async () => {
    const image = `${acr.front.host}/team/web:2.0`;
    await pushAsync(g.layout, 'amd64', image, acr.access);
    const released = sha256Hex(await inspectRawAsync(image, acr.access));

    const run = await lock({ image, expectedDigest: released });
    succeeded(run);
    assert.deepEqual(run.outputs, { IMAGE_DIGEST: released, IMAGE_LOCKED: 'true' });
    assert.match(run.message, /now locked \(writeEnabled=false, deleteEnabled=false\), read back/);
    assert.ok(!visibleOutput(run).includes(acr.secretApp.clientSecret));
    assert.deepEqual(acr.front.tagAttributes('team/web', '2.0'), {
      writeEnabled: false,
      deleteEnabled: false,
      readEnabled: true,
      listEnabled: true,
    });
    assert.deepEqual(acr.front.manifestAttributes('team/web', released), {
      writeEnabled: false,
      deleteEnabled: false,
      readEnabled: true,
      listEnabled: true,
    });

    const pushOver = await pushAsync(other, 'other', image, acr.access, false);
    assert.notEqual(pushOver.code, 0, 'skopeo copy over the locked tag must fail');
    assert.match(pushOver.stderr, /disallowed|405|REGISTRY_DISALLOWED_OPERATION/i);
    assert.equal(
      sha256Hex(await inspectRawAsync(image, acr.access)),
      released,
      'the tag still resolves to the locked digest',
    );

    const del = await deleteAsync(`${acr.front.host}/team/web@${released}`, acr.access);
    assert.notEqual(del.code, 0, 'deleting the locked manifest must fail');
    assert.match(del.stderr, /disallowed|405/i);
    assert.equal(sha256Hex(await inspectRawAsync(image, acr.access)), released);

    const again = await lock({ image, expectedDigest: released });
    succeeded(again);
    assert.match(again.message, /already locked/);
    assert.equal(again.outputs.IMAGE_LOCKED, 'true');

    const unlock = await lock({ image, expectedDigest: released, action: 'unlock' });
    succeeded(unlock);
    assert.deepEqual(unlock.outputs, { IMAGE_DIGEST: released, IMAGE_LOCKED: 'false' });
    assert.deepEqual(acr.front.tagAttributes('team/web', '2.0'), {
      writeEnabled: true,
      deleteEnabled: true,
      readEnabled: true,
      listEnabled: true,
    });
    await pushAsync(other, 'other', image, acr.access);
    assert.notEqual(
      sha256Hex(await inspectRawAsync(image, acr.access)),
      released,
      'after unlock the push goes through',
    );
  });

  it('fails and locks nothing when the tag moved between capture and lock', async () => {
    const image = `${acr.front.host}/team/moved:1.0`;
    await pushAsync(g.layout, 'amd64', image, acr.access);
    const captured = sha256Hex(await inspectRawAsync(image, acr.access));
    await pushAsync(other, 'other', image, acr.access);
    const now = sha256Hex(await inspectRawAsync(image, acr.access));

    const run = await lock({ image, expectedDigest: captured });
    failedWith(run, 'EXPECTED_DIGEST_MISMATCH', captured, now, 'Nothing was locked');
    for (const digest of [captured, now]) {
      const attributes = acr.front.manifestAttributes('team/moved', digest);
      assert.ok(attributes === undefined || attributes.writeEnabled, `manifest ${digest} is not locked`);
    }
    const tag = acr.front.tagAttributes('team/moved', '1.0');
    assert.ok(tag === undefined || tag.writeEnabled, 'the tag is not locked');
  });

  it('locks the manifest alone for a digest reference with lockTag false, and refuses lockTag without a tag', async () => {
    const image = `${acr.front.host}/team/bydigest:1.0`;
    await pushAsync(g.layout, 'arm64', image, acr.access);
    const digest = sha256Hex(await inspectRawAsync(image, acr.access));
    const ref = `${acr.front.host}/team/bydigest@${digest}`;
    failedWith(await lock({ image: ref }), 'INVALID_INPUT', 'lockTag');
    const run = await lock({ image: ref, lockTag: 'false', deleteEnabled: 'true' });
    succeeded(run);
    assert.deepEqual(acr.front.manifestAttributes('team/bydigest', digest), {
      writeEnabled: false,
      deleteEnabled: true,
      readEnabled: true,
      listEnabled: true,
    });
    assert.equal(acr.front.tagAttributes('team/bydigest', '1.0')?.writeEnabled ?? true, true);
  });

  it('on a registry that is not an ACR: a clear error, or a warning and IMAGE_LOCKED=false with failOnUnsupported false', async () => {
    const image = `${g.open.host}/team/notacr:1.0`;
    await pushAsync(g.layout, 'amd64', image, g.openAccess);
    const run = await runTask('DigestLock', { inputs: { image, connectionType: 'anonymous' }, hostEnv: g.hostEnv });
    failedWith(run, 'LOCK_UNSUPPORTED', g.open.host, 'needs ACR', 'Amazon ECR', 'failOnUnsupported: false');

    const soft = await runTask('DigestLock', {
      inputs: { image, connectionType: 'anonymous', failOnUnsupported: 'false' },
      hostEnv: g.hostEnv,
    });
    succeeded(soft);
    assert.equal(soft.outputs.IMAGE_LOCKED, 'false');
    assert.match(soft.outputs.IMAGE_DIGEST ?? '', /^sha256:/);
    assert.equal(soft.warnings.length, 1);
    assert.match(soft.message, /NOT locked/);
  });

  it('fails on a wrong client secret, naming the service connection, printing no secret, locking nothing', async () => {
    const image = `${acr.front.host}/team/wrong:1.0`;
    await pushAsync(g.layout, 'amd64', image, acr.access);
    const wrong = 'Wr0ng-lock~secret';
    const run = await runTask('DigestLock', {
      inputs: { image, connectionType: 'azureRM', azureSubscription: 'arm' },
      connections: { arm: secretConnection(acr, { serviceprincipalkey: wrong }) },
      hostEnv: g.hostEnv,
    });
    failedWith(run, 'CREDENTIALS', `service connection "${connectionId('arm')}"`);
    assert.ok(!visibleOutput(run).includes(wrong));
    assert.equal(acr.front.tagAttributes('team/wrong', '1.0'), undefined);
  });

  it('capture then lock in one process costs one token exchange', async () => {
    const image = parseReference(`${acr.front.host}/team/once:1.0`);
    await pushAsync(g.layout, 'amd64', `${acr.front.host}/team/once:1.0`, acr.access);
    // A connection not used by another test in this process, so its exchange cache starts empty.
    const endpoints = endpointReader({
      once: {
        ...secretConnection(acr),
        data: { environmentAuthorityUrl: acr.front.authorityHost, resourceManagerUrl: 'https://management.azure.com' },
      },
    });
    const connection = { connectionType: 'azureRM' as const, azureSubscription: 'once' };
    acr.front.resetCounts();
    const captureClient = new RegistryClient(image.registry, {
      credential: resolveCredential(image.registry, connection, endpoints, {}).credential,
    });
    const captured = await captureDigest({ image }, captureClient);
    const lockClient = new RegistryClient(image.registry, {
      credential: resolveCredential(image.registry, connection, endpoints, {}).credential,
    });
    const outcome = await applyLock(
      {
        image,
        expectedDigest: parseDigest(captured.digest),
        action: 'lock',
        lockManifest: true,
        lockTag: true,
        deleteEnabled: false,
      },
      lockClient,
    );
    assert.equal(outcome.locked, true);
    assert.equal(acr.front.counts.exchange, 1, 'one /oauth2/exchange for capture and lock together');
    assert.equal(acr.front.counts.entraToken, 1);
  });

  it('the front answers percent-encoded and raw /acr/v1 paths alike, and a malformed digest with a plain 404', async () => {
    const image = parseReference(`${acr.front.host}/team/paths:1.0`);
    await pushAsync(g.layout, 'amd64', `${acr.front.host}/team/paths:1.0`, acr.access);
    const client = new RegistryClient(image.registry, {
      credential: { kind: 'basic', username: 'unused', password: 'unused', source: 'test' },
    });
    const endpoints = endpointReader({ arm: secretConnection(acr) });
    const signed = new RegistryClient(image.registry, {
      credential: resolveCredential(
        image.registry,
        { connectionType: 'azureRM', azureSubscription: 'arm' },
        endpoints,
        {},
      ).credential,
    });
    const scope = 'repository:team/paths:metadata_read';
    const raw = await signed.request({
      method: 'GET',
      path: '/acr/v1/team/paths/_tags/1.0?api-version=2021-07-01',
      scope,
    });
    const encoded = await signed.request({
      method: 'GET',
      path: '/acr/v1/team%2Fpaths/_tags/1.0?api-version=2021-07-01',
      scope,
    });
    assert.equal(raw.status, 200);
    assert.deepEqual(await encoded.json(), await raw.json());
    const malformed = await client.request({
      method: 'GET',
      path: '/acr/v1/team/paths/_manifests/wrong-digest',
      scope,
    });
    assert.equal(malformed.status, 404);
    assert.equal(await malformed.text(), '404 page not found\n');
    const digest = (await signed.getManifest('team/paths', '1.0')).digest;
    const manifest = await signed.request({
      method: 'GET',
      path: `/acr/v1/team%2Fpaths/_manifests/${digest.replace(':', '%3A')}`,
      scope,
    });
    assert.equal(manifest.status, 200);
  });
});
