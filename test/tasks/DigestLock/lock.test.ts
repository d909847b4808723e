import assert from 'node:assert/strict';
import { join } from 'node:path';
import { lockTask } from '../../../src/tasks/DigestLock/lock';
import type { AcrGround } from '../../../lab/acr/ground';
import { startAcrGround } from '../../../lab/acr/ground';
import { secretConnection } from '../../../lab/azurerm';
import type { TestGround } from '../../../lab/ground';
import { testGround } from '../../../lab/ground';
import { inspectRaw, inspectRawAsync, push, pushAsync, sha256Hex } from '../../../lab/images';
import { failedWith, itRefuses, runOperation, succeeded } from '../fake-context';

// DigestLock@1's decisions over a fake TaskContext: the inputs it refuses, what it does on a
// registry that is not ACR (fail, or warn and say NOT locked), and on the ACR front the outputs,
// messages and summary of lock, lock again and unlock. That the locks hold against pushes and
// deletes, as the agent runs the packaged task: test/packaged/lock.test.ts.

const REPOSITORY = 'fast/lock';

describe('DigestLock@1 decisions (fake TaskContext)', function () {
  this.timeout(60_000);
  let g: TestGround;
  before(async () => {
    g = await testGround();
    push(g.layout, 'amd64', `${g.open.host}/${REPOSITORY}:1.0`, g.openAccess);
  });

  const lock = (inputs: Record<string, string>, endpoints = {}) =>
    runOperation(lockTask, { task: 'DigestLock', inputs, endpoints });

  describe('refuses inputs before asking any registry', () => {
    const image = 'nowhere.invalid/app:1';
    itRefuses(lock, [
      [
        'an action it does not know',
        { image, action: 'freeze' },
        /^The input action has the value "freeze": use one of lock, unlock\.$/,
      ],
      [
        'a lockTag that is not a boolean',
        { image, lockTag: 'yes' },
        /^The input lockTag has the value "yes": use true or false\.$/,
      ],
      [
        'a failOnUnsupported that is not a boolean',
        { image, failOnUnsupported: 'maybe' },
        /^The input failOnUnsupported has the value "maybe": use true or false\.$/,
      ],
      [
        'nothing to lock',
        { image, connectionType: 'anonymous', lockTag: 'false', lockManifest: 'false' },
        /^The inputs lockManifest and lockTag are both false, so there is nothing to lock\./,
      ],
    ]);
  });

  describe('on a registry that is not Azure Container Registry', () => {
    it('fails by default, naming the way out, and sets no output', async () => {
      const run = await lock({ image: `${g.open.host}/${REPOSITORY}:1.0`, connectionType: 'anonymous' });
      failedWith(
        run,
        'LOCK_UNSUPPORTED',
        new RegExp(
          `^The registry ${g.open.host} is not an Azure Container Registry, .*set failOnUnsupported: false so this step warns instead of failing\\.`,
        ),
      );
      assert.deepEqual(run.context.outputs, {});
    });

    it('with failOnUnsupported: false, warns, says NOT locked and hands on the digest', async () => {
      const image = `${g.open.host}/${REPOSITORY}:1.0`;
      const digest = sha256Hex(inspectRaw(image, g.openAccess));
      const run = await lock({ image, connectionType: 'anonymous', failOnUnsupported: 'false' });
      assert.equal(
        succeeded(run),
        `${image} is ${digest}; it is NOT locked: ${g.open.host} is not an Azure Container Registry.`,
      );
      assert.deepEqual(run.context.outputs, { IMAGE_DIGEST: digest, IMAGE_LOCKED: 'false' });
      assert.equal(run.context.warnings.length, 1);
      assert.match(run.context.warnings[0]!, /\(failOnUnsupported is false: going on without a lock\.\)$/);
      assert.deepEqual(run.context.summaries, [], 'no summary claims a lock');
    });

    it('a tag moved since the capture: fails before anything else, naming both digests', async () => {
      const expected = `sha256:${'1'.repeat(64)}`;
      const run = await lock({
        image: `${g.open.host}/${REPOSITORY}:1.0`,
        connectionType: 'anonymous',
        expectedDigest: expected,
      });
      failedWith(
        run,
        'EXPECTED_DIGEST_MISMATCH',
        new RegExp(`but the expected digest is ${expected}\\. Nothing was locked\\.`),
      );
      assert.deepEqual(run.context.outputs, {});
    });
  });

  describe('on Azure Container Registry (the ACR front)', () => {
    let acr: AcrGround;
    before(async () => {
      acr = await startAcrGround(join(g.dir, 'acr-fast-lock'), g.certs);
    });
    after(async () => {
      await acr.front.close();
      acr.registry.stop();
    });

    const onAcr = (inputs: Record<string, string>) =>
      lock({ connectionType: 'azureRM', azureSubscription: 'arm', ...inputs }, { arm: secretConnection(acr) });

    it('locks tag and manifest, reads them back into the outputs and the summary; again is "already"; unlock opens both', async () => {
      const image = `${acr.front.host}/${REPOSITORY}:2.0`;
      await pushAsync(g.layout, 'amd64', image, acr.access);
      const digest = sha256Hex(await inspectRawAsync(image, acr.access));

      const first = await onAcr({ image, expectedDigest: digest });
      assert.equal(
        succeeded(first),
        `${image} (${digest}): the tag and manifest are now locked (writeEnabled=false, deleteEnabled=false), read back from the registry.`,
      );
      assert.deepEqual(first.context.outputs, { IMAGE_DIGEST: digest, IMAGE_LOCKED: 'true' });
      assert.equal(
        first.context.summary('DigestLock'),
        `### Image locked\n\n\`${image}\` is \`${digest}\`\n\n|  | writeEnabled | deleteEnabled |\n|---|---|---|\n| Tag | false | false |\n| Manifest | false | false |\n`,
      );
      assert.ok(
        first.context.secrets.includes(acr.secretApp.clientSecret),
        'the client secret is handed to the agent to mask',
      );
      assert.ok(!first.context.visibleText().includes(acr.secretApp.clientSecret));

      const again = await onAcr({ image, expectedDigest: digest });
      assert.match(
        succeeded(again),
        /was already locked \(writeEnabled=false, deleteEnabled=false\): the tag and manifest read back as asked; nothing was changed\.$/,
      );
      assert.match(again.context.summary('DigestLock'), /^### Image locked \(already so\)\n/);

      const unlock = await onAcr({ image, action: 'unlock' });
      assert.match(
        succeeded(unlock),
        /: the tag and manifest are now unlocked \(writeEnabled=true, deleteEnabled=true\), read back from the registry\.$/,
      );
      assert.deepEqual(unlock.context.outputs, { IMAGE_DIGEST: digest, IMAGE_LOCKED: 'false' });
    });

    it('the manifest only (lockTag: false), with deletes left enabled', async () => {
      const image = `${acr.front.host}/${REPOSITORY}:3.0`;
      await pushAsync(g.layout, 'arm64', image, acr.access);
      const run = await onAcr({ image, lockTag: 'false', deleteEnabled: 'true' });
      assert.match(
        succeeded(run),
        /: the manifest is now locked \(writeEnabled=false, deleteEnabled=true\), read back from the registry\.$/,
      );
      assert.match(
        run.context.summary('DigestLock'),
        /\| Tag \| \(not asked\) \| \(not asked\) \|\n\| Manifest \| false \| true \|\n$/,
      );
    });
  });
});
