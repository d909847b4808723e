import assert from 'node:assert/strict';
import type { SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import { managedIdentityConnection } from '../../lab/azurerm';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { pushAsync } from '../../lab/images';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { ServiceConnection, TaskRun } from '../../lab/agent';
import { connectionId, runTask } from '../../lab/agent';

// Managed identity (ManagedServiceIdentity connections) through the ACR front. The real
// ManagedIdentityCredential of @azure/identity 4.13.1 (MSAL underneath) runs in the packaged task
// and finds its token endpoint the way it does on an Azure host, from the environment: here the App
// Service source (IDENTITY_ENDPOINT, IDENTITY_HEADER) played by the front. Every run also points
// the IMDS override at the front and checks that nothing asked it: no test may reach 169.254.169.254.

describe('Managed identity sign-in to ACR (packaged tasks, through the ACR front)', function () {
  this.timeout(120_000);
  let g: TestGround;
  let acr: SuiteAcr;
  let image: string;
  let digest: string;

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-msi', { images: { 'team/msi:1.0': 'amd64' } });
    image = `${acr.front.host}/team/msi:1.0`;
    digest = acr.digests['team/msi:1.0']!;
  });
  beforeEach(() => {
    acr.front.resetCounts();
    acr.front.managedIdentity.systemAssigned = true;
  });
  afterEach(() => {
    assert.equal(acr.front.managedIdentity.counts.imds, 0, 'nothing asked the IMDS address');
  });
  after(() => acr.close());

  // The App Service identity endpoint is the agent host's environment (IDENTITY_ENDPOINT, IDENTITY_HEADER), which tasks inherit.
  const run = (
    task: 'DigestCapture' | 'DigestLock',
    endpoint: ServiceConnection,
    inputs: Record<string, string> = {},
    hostEnv: Record<string, string> = {},
  ): Promise<TaskRun> =>
    runTask(task, {
      inputs: { image, connectionType: 'azureRM', azureSubscription: 'arm-mi', ...inputs },
      connections: { 'arm-mi': endpoint },
      hostEnv: { ...g.hostEnv, ...acr.front.managedIdentity.env(), ...hostEnv },
    });

  /** Neither a managed-identity token nor the identity endpoint's secret header shows in the log. */
  const noSecretsShown = (r: TaskRun): void => {
    const shown = visibleOutput(r);
    assert.ok(!shown.includes(acr.front.managedIdentity.header), 'the IDENTITY_HEADER value is not printed');
    for (const token of acr.front.managedIdentity.tokens)
      assert.ok(!shown.includes(token), 'no managed-identity token is printed');
  };

  it("captures with the agent host's system-assigned identity: one token for ACR's audience, one exchange, no Entra ID authority", async () => {
    const r = await run('DigestCapture', managedIdentityConnection(acr));
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    const mi = acr.front.managedIdentity;
    assert.deepEqual(mi.counts, { issued: 1, refused: 0, imds: 0 });
    assert.deepEqual(mi.requested, [undefined], 'no client id: the system-assigned identity');
    assert.equal(
      acr.front.counts.exchange,
      1,
      'the front accepted the token at /oauth2/exchange (audience https://containerregistry.azure.net)',
    );
    assert.deepEqual(
      { entra: acr.front.counts.entraToken, openid: acr.front.counts.openIdConfiguration },
      { entra: 0, openid: 0 },
      'a managed identity does not talk to the authority',
    );
    assert.ok(r.secrets.includes(mi.tokens[0]!), 'the managed-identity token is masked');
    assert.ok(r.secrets.includes(mi.header), 'the identity endpoint header is masked');
    noSecretsShown(r);
  });

  it('captures with the user-assigned identity the connection names (msiclientId), asking for it by client id', async () => {
    const clientId = acr.front.managedIdentity.userAssigned[0]!;
    acr.front.managedIdentity.systemAssigned = false;
    const r = await run('DigestCapture', managedIdentityConnection(acr, { msiclientId: clientId }));
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    assert.deepEqual(acr.front.managedIdentity.requested, [clientId]);
    assert.equal(acr.front.counts.exchange, 1);
    noSecretsShown(r);
  });

  it('fails when the host refuses the identity, naming the service connection and saying what managed identity needs', async () => {
    acr.front.managedIdentity.systemAssigned = false;
    const r = await run('DigestCapture', managedIdentityConnection(acr));
    failedWith(
      r,
      'CREDENTIALS',
      `service connection "${connectionId('arm-mi')}" given in azureSubscription`,
      'Managed identity works only on an agent running in Azure whose identity has a role on the registry',
    );
    assert.match(r.message, /Unable to load the proper Managed Identity/);
    assert.deepEqual(
      acr.front.managedIdentity.counts,
      { issued: 0, refused: 1, imds: 0 },
      'a refusal is final: no retries',
    );
    assert.equal(acr.front.counts.exchange, 0);
    noSecretsShown(r);
  });

  it('fails on a user-assigned identity the host does not have, naming the client id', async () => {
    const unknown = '99999999-8888-4777-8666-555555555555';
    const r = await run('DigestCapture', managedIdentityConnection(acr, { msiclientId: unknown }));
    failedWith(
      r,
      'CREDENTIALS',
      `service connection "${connectionId('arm-mi')}"`,
      unknown,
      'Managed identity works only on an agent running in Azure',
    );
    assert.deepEqual(acr.front.managedIdentity.requested, [unknown]);
    noSecretsShown(r);
  });

  it('fails when the identity endpoint refuses the secret header, without printing either header', async () => {
    const wrong = 'mi-wrong-header-value-0123456789';
    const r = await run('DigestCapture', managedIdentityConnection(acr), {}, { IDENTITY_HEADER: wrong });
    failedWith(
      r,
      'CREDENTIALS',
      `service connection "${connectionId('arm-mi')}"`,
      'Managed identity works only on an agent running in Azure',
    );
    assert.equal(acr.front.managedIdentity.counts.refused, 1);
    assert.ok(!visibleOutput(r).includes(wrong));
    noSecretsShown(r);
  });

  it('locks and unlocks with a managed identity (DigestLock@1), one exchange per run', async () => {
    const lockImage = `${acr.front.host}/team/msi:lock`;
    await pushAsync(g.layout, 'amd64', lockImage, acr.access);
    const locked = await run('DigestLock', managedIdentityConnection(acr), {
      image: lockImage,
      expectedDigest: digest,
    });
    succeeded(locked);
    assert.deepEqual(locked.outputs, { IMAGE_DIGEST: digest, IMAGE_LOCKED: 'true' });
    assert.equal(acr.front.tagAttributes('team/msi', 'lock')?.writeEnabled, false);
    assert.deepEqual(
      { exchange: acr.front.counts.exchange, issued: acr.front.managedIdentity.counts.issued },
      { exchange: 1, issued: 1 },
    );
    noSecretsShown(locked);
    const unlocked = await run('DigestLock', managedIdentityConnection(acr), {
      image: lockImage,
      expectedDigest: digest,
      action: 'unlock',
    });
    succeeded(unlocked);
    assert.equal(acr.front.tagAttributes('team/msi', 'lock')?.writeEnabled, true);
  });
});
