import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Digest } from '../../src/reference/digest';
import { parseDigest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { OCI_INDEX } from '../../src/registry/manifest-parse';
import { listReferrers } from '../../src/registry/referrers';
import type { AcrGround, SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { RunningArmFront } from '../../lab/arm-front';
import { startArmFront } from '../../lab/arm-front';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { OciLayout, inspectRawAsync, push, pushAsync, sha256Hex } from '../../lab/images';
import { pushArtifactReferrer } from '../../lab/referrer';
import type { ServiceConnection, TaskRun } from '../../lab/agent';
import { runTask } from '../../lab/agent';

// DigestPromote@1's ACR parts, run from the packaged .vsix: mode: import through a Resource
// Manager front that really imports (the registry behind the target ACR front receives the image),
// re-verified by the task through the ACR front; and lockAfterPromote, whose lock the ACR front
// enforces on later pushes exactly as for DigestLock@1.

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

function record(value: unknown): Record<string, unknown> {
  assert.ok(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    `not an object: ${JSON.stringify(value)}`,
  );
  return { ...value };
}

describe('DigestPromote@1 with ACR: mode import and lockAfterPromote (packaged task, ACR and ARM fronts)', function () {
  this.timeout(180_000);
  let g: TestGround;
  let arm: RunningArmFront;
  let prod: SuiteAcr;
  let dev: SuiteAcr;
  let other: OciLayout;
  let devId: string;
  let multi: Digest;
  let prodDirect: RegistryClient;

  /** An Azure Resource Manager service connection in the subscription, signing in at `acr`'s Entra ID. */
  const armConnection = (acr: AcrGround, data: Record<string, string> = {}): ServiceConnection => ({
    url: `${arm.url}/`,
    scheme: 'ServicePrincipal',
    parameters: {
      tenantid: acr.tenantId,
      serviceprincipalid: acr.secretApp.clientId,
      serviceprincipalkey: acr.secretApp.clientSecret,
      authenticationType: 'spnKey',
    },
    data: {
      environment: 'AzureCloud',
      environmentAuthorityUrl: `${acr.front.authorityHost}/`,
      resourceManagerUrl: `${arm.url}/`,
      subscriptionId: SUBSCRIPTION,
      ...data,
    },
  });
  const endpoints = (): Record<string, ServiceConnection> => ({
    'prod-arm': armConnection(prod),
    'dev-arm': armConnection(dev),
    'basic-conn': {
      url: `https://${g.basic.host}`,
      scheme: 'UsernamePassword',
      parameters: { username: g.user.username, password: g.user.password, registry: `https://${g.basic.host}` },
    },
  });
  const promote = (inputs: Record<string, string>): Promise<TaskRun> =>
    runTask('DigestPromote', {
      inputs: { targetConnectionType: 'azureRM', targetAzureSubscription: 'prod-arm', ...inputs },
      connections: endpoints(),
      hostEnv: g.hostEnv,
      timeoutMs: 90_000,
    });
  const fromDev = { sourceConnectionType: 'azureRM', sourceAzureSubscription: 'dev-arm' };
  const atProd = async (ref: string): Promise<string> =>
    sha256Hex(await inspectRawAsync(`${prod.front.host}/${ref}`, prod.access));

  before(async () => {
    g = await testGround();
    arm = await startArmFront(g.certs);
    // Listed in this order, one per page: devacr is found on the third.
    prod = await acrGroundFor(g, 'acr-promote-prod', {
      arm: { front: arm, name: 'prodacr', resourceGroup: 'rg-prod', subscriptionId: SUBSCRIPTION },
    });
    arm.addRegistry({
      name: 'otheracr',
      resourceGroup: 'rg-other',
      subscriptionId: SUBSCRIPTION,
      loginServer: 'otheracr.azurecr.io',
      upstreamHost: '127.0.0.1:1',
    });
    dev = await acrGroundFor(g, 'acr-promote-dev', {
      arm: { front: arm, name: 'devacr', resourceGroup: 'rg-dev', subscriptionId: SUBSCRIPTION },
    });
    devId = dev.armId!;
    // Straight to the registries behind the fronts (separate processes, so the blocking skopeo is fine).
    push(g.layout, 'multi', `${dev.registry.host}/team/app:1.0`, dev.directAccess, { all: true });
    push(g.layout, 'multi', `${g.basic.host}/imp/app:1.0`, g.basicAccess, { all: true });
    multi = parseDigest(sha256Hex(await inspectRawAsync(`${dev.front.host}/team/app:1.0`, dev.access)));
    other = new OciLayout(join(g.dir, 'images', 'promote-acr-other'));
    other.image('other', 'amd64', 'other bytes, never promoted\n');
    push(other, 'other', `${g.open.host}/acr/other:1`, g.openAccess);
    push(g.layout, 'amd64', `${g.open.host}/acr/app:1`, g.openAccess);
    prodDirect = new RegistryClient(prod.registry.host, { credential: { kind: 'anonymous', source: 'test' } });
  });
  after(async () => {
    await arm.close();
    for (const acr of [prod, dev]) await acr.close();
  });

  it('imports a two-platform index from a dev ACR by resource id, re-verifies it at the target, then copies its referrer and writes the tag', async () => {
    const devDirect = new RegistryClient(dev.registry.host, { credential: { kind: 'anonymous', source: 'test' } });
    const empty = new Uint8Array(Buffer.from('{}'));
    const signatureText = '{"signed":"by the dev pipeline"}';
    const signature = new Uint8Array(Buffer.from(signatureText));
    const { digest: referrerDigest } = await pushArtifactReferrer(
      devDirect,
      'team/app',
      { digest: multi, mediaType: OCI_INDEX },
      { artifactType: 'application/vnd.example.signature', payload: signatureText },
    );
    const importsBefore = arm.counts.importImage;

    const run = await promote({
      ...fromDev,
      mode: 'import',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/app:1.0`,
    });
    succeeded(run);
    assert.equal(arm.counts.importImage, importsBefore + 1);
    const body = record(arm.imports[arm.imports.length - 1]);
    assert.deepEqual(
      body,
      {
        source: { resourceId: devId, sourceImage: `team/app@${multi}` },
        untaggedTargetRepositories: ['release/app'],
        mode: 'NoForce',
      },
      'by resource id, no tags',
    );
    assert.equal(await atProd('release/app:1.0'), multi, 'the tag points at the source digest');
    const index = record(
      JSON.parse((await inspectRawAsync(`${prod.front.host}/release/app@${multi}`, prod.access)).toString('utf8')),
    );
    assert.ok(Array.isArray(index.manifests) && index.manifests.length === 2);
    for (const child of index.manifests) {
      const digest = String(record(child).digest);
      assert.equal(await atProd(`release/app@${digest}`), digest, 'each platform is at the target');
    }
    assert.deepEqual(
      (await listReferrers(prodDirect, 'release/app', multi)).map((d) => d.digest),
      [referrerDigest],
      'the referrer was copied after the import',
    );
    assert.equal(run.outputs.IMAGE_DIGEST, multi);
    assert.equal(run.outputs.IMAGE_REF, `${prod.front.host}/release/app@${multi}`);
    assert.equal(
      run.outputs.PROMOTED_BLOBS,
      '2',
      "only the referrer's blobs went through the agent: the import carried the image",
    );
    assert.equal(run.outputs.PROMOTED_BYTES, String(empty.byteLength + signature.byteLength));
    assert.match(run.stdout, /Verified at the target: 3 manifest\(s\) re-hashed, \d+ blob\(s\) present/);
    const summary = run.summaries.join('\n');
    assert.match(
      summary,
      /ACR import \(importImage on `\/subscriptions\/.*\/registries\/prodacr`, mode NoForce, no tags\)/,
    );
    assert.match(
      summary,
      /\| Referrers \| 1 \(the import carried none; the copy path then copied what the target lacked through the agent\) \|/,
    );
    assert.match(run.message, /by ACR import, verified at the target/);
    assert.ok(arm.counts.list >= 3, 'the registry list was read page by page');
    assert.ok(!visibleOutput(run).includes(prod.secretApp.clientSecret));
  });

  it("imports from a registry that is not an ACR by address, with the source connection's user name and password, and locks after the import", async () => {
    const run = await promote({
      sourceConnectionType: 'dockerRegistry',
      sourceDockerRegistryServiceConnection: 'basic-conn',
      mode: 'import',
      lockAfterPromote: 'true',
      source: `${g.basic.host}/imp/app@${multi}`,
      target: `${prod.front.host}/release/frombasic:2.0`,
    });
    succeeded(run);
    const body = record(arm.imports[arm.imports.length - 1]);
    assert.deepEqual(record(body.source), {
      registryUri: g.basic.host,
      sourceImage: `imp/app@${multi}`,
      credentials: { username: g.user.username, password: g.user.password },
    });
    assert.ok(!visibleOutput(run).includes(g.user.password), 'the source password is masked');
    assert.equal(await atProd('release/frombasic:2.0'), multi);
    assert.equal(prod.front.tagAttributes('release/frombasic', '2.0')?.writeEnabled, false);
    assert.equal(prod.front.manifestAttributes('release/frombasic', multi)?.writeEnabled, false);
    assert.match(
      run.summaries.join('\n'),
      /Locked \| manifest and `2.0`: writeEnabled=false, deleteEnabled=false \(read back\)/,
    );
  });

  it("refuses import without the target's Azure Resource Manager connection, and into a registry that is not an ACR of the subscription", async () => {
    const noArm = await promote({
      targetConnectionType: 'anonymous',
      mode: 'import',
      source: `${g.open.host}/acr/app:1`,
      allowTagSource: 'true',
      target: `${g.open.host}/acr/imported:1`,
    });
    failedWith(
      noArm,
      'INVALID_INPUT',
      'targetConnectionType',
      '"anonymous"',
      'targetConnectionType: azureRM',
      'targetAzureSubscription',
      'mode: copy',
    );

    const imports = arm.counts.importImage;
    const notAcr = await promote({
      sourceConnectionType: 'anonymous',
      mode: 'import',
      source: `${g.open.host}/acr/app:1`,
      allowTagSource: 'true',
      target: `${g.open.host}/acr/imported:1`,
    });
    failedWith(
      notAcr,
      'REGISTRY_NOT_FOUND',
      'The input target',
      g.open.host,
      'not an Azure Container Registry',
      SUBSCRIPTION,
      prod.front.host,
      'mode: copy',
    );
    assert.equal(arm.counts.importImage, imports, 'nothing was imported');

    const legacy = await promote({
      ...fromDev,
      mode: 'import',
      azureSubscription: 'dev-arm',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/legacy:1`,
    });
    failedWith(legacy, 'INVALID_INPUT', 'azureSubscription', 'targetAzureSubscription');
  });

  it('fails a tag conflict before importing anything, naming both digests', async () => {
    await pushAsync(other, 'other', `${prod.front.host}/release/conflict:1.0`, prod.access);
    const taken = await atProd('release/conflict:1.0');
    const imports = arm.counts.importImage;
    const run = await promote({
      ...fromDev,
      mode: 'import',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/conflict:1.0`,
    });
    failedWith(run, 'TAG_CONFLICT', taken, multi, 'overwriteTags: true');
    assert.equal(arm.counts.importImage, imports, 'no import was started');
    assert.equal(await prodDirect.headManifest('release/conflict', multi), undefined);

    const forced = await promote({
      ...fromDev,
      mode: 'import',
      overwriteTags: 'true',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/conflict:1.0`,
    });
    succeeded(forced);
    assert.equal(record(arm.imports[arm.imports.length - 1]).mode, 'Force');
    assert.equal(await atProd('release/conflict:1.0'), multi);
  });

  it('says the import put the image at the target when a tag is taken during the import, not that nothing was copied', async () => {
    arm.afterNextImport(async () => {
      await pushAsync(other, 'other', `${prod.registry.host}/release/raced:1.0`, prod.directAccess);
    });
    const imports = arm.counts.importImage;
    const run = await promote({
      ...fromDev,
      mode: 'import',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/raced:1.0`,
    });
    const taken = await atProd('release/raced:1.0');
    assert.notEqual(taken, multi, 'the racing push holds the tag');
    failedWith(
      run,
      'TAG_CONFLICT',
      taken,
      multi,
      'taken while the image was imported',
      `${prod.front.host}/release/raced@${multi}`,
      'no tag was written',
      'overwriteTags: true',
    );
    assert.ok(!run.message.includes('Nothing was copied'), run.message);
    assert.equal(arm.counts.importImage, imports + 1, 'the import ran');
    assert.equal(
      (await prodDirect.headManifest('release/raced', multi))?.digest,
      multi,
      'the image is at the target by digest',
    );
  });

  it('fails when the import reports success but the target does not hold the digest, and writes no tag', async () => {
    arm.sabotageNextImport('other-bytes');
    const run = await promote({
      ...fromDev,
      mode: 'import',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/sabotaged:1.0`,
    });
    failedWith(run, 'IMPORT_NOT_VERIFIED', multi, 'reported the import', 'No tag was written', 'mode: copy');
    assert.equal(await prodDirect.headManifest('release/sabotaged', '1.0'), undefined, 'no tag');
    assert.equal(
      await prodDirect.headManifest('release/sabotaged', multi),
      undefined,
      'the bytes the import left are other bytes',
    );
  });

  it("fails with ARM's words when the import operation fails", async () => {
    arm.sabotageNextImport('fail');
    const run = await promote({
      ...fromDev,
      mode: 'import',
      source: `${dev.front.host}/team/app@${multi}`,
      target: `${prod.front.host}/release/failed:1.0`,
    });
    failedWith(run, 'IMPORT_FAILED', 'ImportSourceUnauthorized', 'could not be read', 'No tag was written');
  });

  it('lockAfterPromote locks the manifest and the tags asked for by name; a push over the locked tag is refused; promoting again is fine', async () => {
    const image = `${prod.front.host}/locked/app:2.0`;
    const source = `${g.open.host}/acr/app:1`;
    const digest = sha256Hex(await inspectRawAsync(source, g.openAccess));
    const run = await promote({
      sourceConnectionType: 'anonymous',
      source,
      allowTagSource: 'true',
      target: image,
      additionalTags: 'stable',
      lockAfterPromote: 'true',
    });
    succeeded(run);
    const locked = { writeEnabled: false, deleteEnabled: false, readEnabled: true, listEnabled: true };
    assert.deepEqual(prod.front.tagAttributes('locked/app', '2.0'), locked);
    assert.deepEqual(prod.front.tagAttributes('locked/app', 'stable'), locked);
    assert.deepEqual(prod.front.manifestAttributes('locked/app', digest), locked);
    assert.match(
      run.stdout,
      /Locked \(writeEnabled=false, deleteEnabled=false, read back\): the manifest sha256:[a-f0-9]{64} and the tag\(s\) 2\.0, stable/,
    );
    assert.match(run.message, /; locked\.$/);
    assert.deepEqual(Object.keys(run.outputs).sort(), [
      'IMAGE_DIGEST',
      'IMAGE_REF',
      'PROMOTED_BLOBS',
      'PROMOTED_BYTES',
    ]);

    const pushOver = await pushAsync(other, 'other', image, prod.access, false);
    assert.notEqual(pushOver.code, 0, 'skopeo copy over the locked tag must fail');
    assert.match(pushOver.stderr, /disallowed|405|REGISTRY_DISALLOWED_OPERATION/i);
    assert.equal(await atProd('locked/app:2.0'), digest);

    const again = await promote({
      sourceConnectionType: 'anonymous',
      source,
      allowTagSource: 'true',
      target: image,
      additionalTags: 'stable',
      lockAfterPromote: 'true',
    });
    succeeded(again);
    assert.equal(again.outputs.PROMOTED_BYTES, '0');
  });

  it("lockAfterPromote into a registry that is not an ACR fails before anything is promoted, with DigestLock's message", async () => {
    const run = await runTask('DigestPromote', {
      inputs: {
        sourceConnectionType: 'anonymous',
        source: `${g.open.host}/acr/app:1`,
        allowTagSource: 'true',
        target: `${g.open.host}/acr/unlockable:1`,
        targetConnectionType: 'anonymous',
        lockAfterPromote: 'true',
      },
      hostEnv: g.hostEnv,
    });
    failedWith(
      run,
      'LOCK_UNSUPPORTED',
      g.open.host,
      'not an Azure Container Registry',
      'Amazon ECR',
      'remove lockAfterPromote',
      'Nothing was promoted',
    );
    const open = new RegistryClient(g.open.host, { credential: { kind: 'anonymous', source: 'test' } });
    assert.equal(await open.headManifest('acr/unlockable', '1'), undefined);
  });
});
