import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RegistryClient } from '../../../src/registry/client';
import { promoteTask } from '../../../src/tasks/DigestPromote/promote';
import type { AcrGround } from '../../../lab/acr/ground';
import { startAcrGround } from '../../../lab/acr/ground';
import type { RunningArmFront } from '../../../lab/arm-front';
import { startArmFront } from '../../../lab/arm-front';
import type { TestGround } from '../../../lab/ground';
import { testGround } from '../../../lab/ground';
import { inspectRaw, inspectRawAsync, push, sha256Hex } from '../../../lab/images';
import type { FakeEndpoint } from '../fake-context';
import { failedWith, itRefuses, runOperation, succeeded } from '../fake-context';

// DigestPromote@1's decisions over a fake TaskContext: the inputs it refuses, copy or import, what
// it reports (outputs, log, summary), the tag it resolves once, a lock it cannot take refused
// before anything moves, and the source sign-in read once. The packaged task, copying between the
// registries as the agent runs it: test/packaged/promote.test.ts and promote-acr.test.ts.

const REPOSITORY = 'fast/promote';
const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

describe('DigestPromote@1 decisions (fake TaskContext)', function () {
  this.timeout(60_000);
  let g: TestGround;
  let digest: string;
  let basicConnection: FakeEndpoint;
  before(async () => {
    g = await testGround();
    push(g.layout, 'amd64', `${g.open.host}/${REPOSITORY}:1.0`, g.openAccess);
    digest = sha256Hex(inspectRaw(`${g.open.host}/${REPOSITORY}:1.0`, g.openAccess));
    basicConnection = {
      url: `https://${g.basic.host}`,
      scheme: 'UsernamePassword',
      parameters: { username: g.user.username, password: g.user.password, registry: `https://${g.basic.host}` },
    };
  });

  const promote = (inputs: Record<string, string>, endpoints: Record<string, FakeEndpoint> = {}) =>
    runOperation(promoteTask, {
      task: 'DigestPromote',
      inputs: { sourceConnectionType: 'anonymous', targetConnectionType: 'anonymous', ...inputs },
      endpoints,
    });
  const source = () => `${g.open.host}/${REPOSITORY}@${digest}`;

  describe('refuses inputs before asking any registry', () => {
    const at = `sha256:${'a'.repeat(64)}`;
    itRefuses(promote, [
      [
        'a source without a digest',
        { source: 'nowhere.invalid/app:1', target: 'nowhere.invalid/prod:1' },
        /^The input source has the value "nowhere\.invalid\/app:1": it has no digest, .*or set allowTagSource: true to resolve the tag once\.$/,
      ],
      [
        'a target with a digest',
        { source: `nowhere.invalid/app@${at}`, target: `nowhere.invalid/prod@${at}` },
        /^The input target has the value "nowhere\.invalid\/prod@sha256:a+": .*Remove "@sha256:\.\.\."\.$/,
      ],
      [
        'a bad additional tag',
        { source: `nowhere.invalid/app@${at}`, target: 'nowhere.invalid/prod:1', additionalTags: 'ok\n-bad' },
        /^The input additionalTags has the value "-bad": a tag has 1 to 128 letters/,
      ],
      [
        'a concurrency of 0',
        { source: `nowhere.invalid/app@${at}`, target: 'nowhere.invalid/prod:1', concurrency: '0' },
        /^The input concurrency has the value "0": use a whole number from 1 to 32 \(blobs transferred at once; 4 is the default\)\.$/,
      ],
      [
        'a mode it does not know',
        { source: `nowhere.invalid/app@${at}`, target: 'nowhere.invalid/prod:1', mode: 'move' },
        /^The input mode has the value "move": use one of copy, import\.$/,
      ],
      [
        'mode import into a target signed in without Azure Resource Manager',
        { source: `nowhere.invalid/app@${at}`, target: 'nowhere.invalid/prod:1', mode: 'import' },
        /^The input targetConnectionType has the value "anonymous": mode: import .*Set targetConnectionType: azureRM and targetAzureSubscription: .*or use mode: copy/,
      ],
    ]);
  });

  it('copies a digest to another registry: outputs, log and summary; again, no blob bytes move', async () => {
    const target = `${g.basic.host}/${REPOSITORY}:1.0`;
    const inputs = {
      source: source(),
      target,
      targetConnectionType: 'dockerRegistry',
      targetDockerRegistryServiceConnection: 'basic',
      additionalTags: 'stable',
    };
    const first = await promote(inputs, { basic: basicConnection });
    const ref = `${g.basic.host}/${REPOSITORY}@${digest}`;
    assert.equal(succeeded(first), `Promoted ${source()} to ${ref}.`);
    assert.equal(first.context.outputs.IMAGE_DIGEST, digest);
    assert.equal(first.context.outputs.IMAGE_REF, ref);
    assert.equal(first.context.outputs.PROMOTED_BLOBS, '2', 'the layer and the config');
    assert.ok(Number(first.context.outputs.PROMOTED_BYTES) > 0);
    assert.ok(first.context.log.includes('Tags written: 1.0, stable.'), first.context.log.join('\n'));
    assert.ok(
      first.context.log.includes(
        `Source: ${g.open.host}/${REPOSITORY} (anonymous access (connectionType: anonymous)).`,
      ),
    );
    assert.ok(first.context.log.includes(`Target: ${g.basic.host}/${REPOSITORY} (service connection "basic").`));
    const summary = first.context.summary('DigestPromote');
    assert.match(summary, /^### Image promoted by digest\n/);
    assert.ok(summary.includes(`| Target | \`${ref}\` |`));
    assert.ok(summary.includes('| Tags written | `1.0`, `stable` |'));
    assert.ok(!first.context.visibleText().includes(g.user.password));
    assert.equal(sha256Hex(await inspectRawAsync(`${g.basic.host}/${REPOSITORY}:stable`, g.basicAccess)), digest);

    const again = await promote(inputs, { basic: basicConnection });
    succeeded(again);
    assert.equal(again.context.outputs.PROMOTED_BYTES, '0');
    assert.ok(
      again.context.log.some((line) => /^No blob bytes moved: 2 blob\(s\) already at the target/.test(line)),
      again.context.log.join('\n'),
    );
    assert.ok(again.context.log.includes('Tags already at this digest: 1.0, stable.'));
  });

  it('allowTagSource resolves the tag once and promotes that digest, saying which', async () => {
    const run = await promote({
      source: `${g.open.host}/${REPOSITORY}:1.0`,
      allowTagSource: 'true',
      target: `${g.open.host}/${REPOSITORY}-bytag:1`,
    });
    succeeded(run);
    assert.equal(run.context.outputs.IMAGE_DIGEST, digest);
    assert.ok(
      run.context.log.includes(
        `allowTagSource: ${g.open.host}/${REPOSITORY}:1.0 resolved once to ${digest}; that digest is what is promoted.`,
      ),
      run.context.log.join('\n'),
    );
  });

  it('lockAfterPromote into a registry that is not an ACR fails before anything is promoted', async () => {
    const run = await promote({
      source: source(),
      target: `${g.open.host}/${REPOSITORY}-unlockable:1`,
      lockAfterPromote: 'true',
    });
    failedWith(
      run,
      'LOCK_UNSUPPORTED',
      /remove lockAfterPromote from this DigestPromote@1 step\. Nothing was promoted\.$/,
    );
    assert.deepEqual(run.context.outputs, {});
    const open = new RegistryClient(g.open.host, { credential: { kind: 'anonymous', source: 'test' } });
    assert.equal(await open.headManifest(`${REPOSITORY}-unlockable`, '1'), undefined);
  });

  describe('mode import (the ARM and ACR fronts)', () => {
    let arm: RunningArmFront;
    let prod: AcrGround;
    before(async () => {
      arm = await startArmFront(g.certs);
      prod = await startAcrGround(join(g.dir, 'acr-fast-promote'), g.certs, { resourceManager: arm.url });
      arm.addIssuer(prod.front.entraTokenClaims);
      arm.addRegistry({
        name: 'prodacr',
        resourceGroup: 'rg-prod',
        subscriptionId: SUBSCRIPTION,
        loginServer: prod.front.host,
        upstreamHost: prod.registry.host,
      });
      push(g.layout, 'amd64', `${g.basic.host}/${REPOSITORY}:1.0`, g.basicAccess);
    });
    after(async () => {
      await arm.close();
      await prod.front.close();
      prod.registry.stop();
    });

    it('imports from a registry signed in with a user name and password, read from the source connection once, and says how in the summary', async () => {
      const prodArm: FakeEndpoint = {
        url: `${arm.url}/`,
        scheme: 'ServicePrincipal',
        parameters: {
          tenantid: prod.tenantId,
          serviceprincipalid: prod.secretApp.clientId,
          serviceprincipalkey: prod.secretApp.clientSecret,
          authenticationType: 'spnKey',
        },
        data: {
          environment: 'AzureCloud',
          environmentAuthorityUrl: `${prod.front.authorityHost}/`,
          resourceManagerUrl: `${arm.url}/`,
          subscriptionId: SUBSCRIPTION,
        },
      };
      const run = await promote(
        {
          mode: 'import',
          source: `${g.basic.host}/${REPOSITORY}@${digest}`,
          sourceConnectionType: 'dockerRegistry',
          sourceDockerRegistryServiceConnection: 'basic',
          target: `${prod.front.host}/release/app:1.0`,
          targetConnectionType: 'azureRM',
          targetAzureSubscription: 'prod-arm',
        },
        { basic: basicConnection, 'prod-arm': prodArm },
      );
      assert.match(succeeded(run), / by ACR import, verified at the target\.$/);
      const imported = arm.imports[arm.imports.length - 1] as { source: { credentials: unknown } };
      assert.deepEqual(imported.source.credentials, { username: g.user.username, password: g.user.password });
      // The source's credential is resolved once: its client and the import share it.
      assert.deepEqual(
        run.context.endpointReads.filter((read) => read === 'basic password'),
        ['basic password'],
      );
      assert.match(
        run.context.summary('DigestPromote'),
        /\| Mode \| ACR import \(importImage on `\/subscriptions\/.*\/registries\/prodacr`, mode NoForce, no tags\)/,
      );
      assert.ok(!run.context.visibleText().includes(g.user.password));
      assert.ok(!run.context.visibleText().includes(prod.secretApp.clientSecret));
    });
  });
});
