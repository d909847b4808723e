import assert from 'node:assert/strict';
import type { SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { AcrConnectionScheme } from '../../lab/azurerm';
import { acrDockerRegistryConnection } from '../../lab/azurerm';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { inspectRaw, inspectRawAsync, pushAsync, sha256Hex } from '../../lab/images';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { AgentJobOptions, TaskRun } from '../../lab/agent';
import { connectionId, runTask } from '../../lab/agent';

// Docker Registry service connections of type Azure Container Registry, in every task that takes a
// Docker Registry connection, run from the packaged .vsix as the agent runs them, through the ACR
// front: the real @azure/identity code signs in at the front's Entra ID (AZURE_AUTHORITY_HOST: such a
// connection names no authority), the front's managed-identity endpoint or its Azure DevOps OIDC
// endpoint, and the task trades the token at the front's /oauth2/exchange. The front here accepts
// only tokens for ACR's own audience, as a registry with azureADAuthenticationAsArmPolicy disabled.

describe('Docker Registry connections of type Azure Container Registry (packaged tasks, through the ACR front)', function () {
  this.timeout(180_000);
  let g: TestGround;
  let acr: SuiteAcr;
  let image: string;
  let digest: string;

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-dockerregistry', {
      acceptResourceManagerTokens: false,
      images: { 'team/api:1.0': 'amd64' },
    });
    image = `${acr.front.host}/team/api:1.0`;
    digest = acr.digests['team/api:1.0']!;
  });
  beforeEach(() => {
    acr.front.resetCounts();
    acr.front.managedIdentity.systemAssigned = true;
  });
  afterEach(() => assert.equal(acr.front.managedIdentity.counts.imds, 0, 'nothing asked the IMDS address'));
  after(() => acr.close());

  /**
   * The job a connection of this scheme needs: the agent host's environment (the run's CA, the
   * authority, and for a managed identity the host's identity endpoint), and for workload identity
   * the job's Azure DevOps connection and OIDC URL, which the server sends with every job.
   */
  const job = (scheme: AcrConnectionScheme): AgentJobOptions => ({
    hostEnv: {
      ...g.hostEnv,
      AZURE_AUTHORITY_HOST: acr.front.authorityHost,
      ...(scheme === 'ManagedServiceIdentity' ? acr.front.managedIdentity.env() : {}),
    },
    ...(scheme === 'WorkloadIdentityFederation'
      ? {
          collection: { accessToken: acr.front.systemAccessToken },
          variables: { 'System.OidcRequestUri': acr.front.oidcRequestUri },
        }
      : {}),
  });
  const run = (
    task: string,
    scheme: AcrConnectionScheme,
    inputs: Record<string, string>,
    connection = acrDockerRegistryConnection(acr, scheme),
  ): Promise<TaskRun> => runTask(task, { ...job(scheme), connections: { 'release-acr': connection }, inputs });

  const viaConnection = { connectionType: 'dockerRegistry', dockerRegistryServiceConnection: 'release-acr' };

  /** No secret of the sign-in shows in the log: the client secret, the host's identity header, any token the front issued. */
  const noSecretsShown = (r: TaskRun): void => {
    const shown = visibleOutput(r);
    for (const secret of [
      acr.secretApp.clientSecret,
      acr.front.managedIdentity.header,
      acr.front.systemAccessToken,
      ...acr.front.managedIdentity.tokens,
    ]) {
      assert.ok(!shown.includes(secret), 'a secret of the sign-in is printed');
    }
  };

  it("DigestCapture@1, ServicePrincipal: the service principal signs in at Entra ID for ACR's audience, one exchange, secrets masked", async () => {
    const r = await run('DigestCapture', 'ServicePrincipal', { image, ...viaConnection });
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    assert.deepEqual(
      { entra: acr.front.counts.entraToken, exchange: acr.front.counts.exchange },
      { entra: 1, exchange: 1 },
    );
    assert.ok(r.secrets.includes(acr.secretApp.clientSecret), 'the client secret is masked');
    assert.match(r.stdout, /\(service connection "[0-9a-f-]+" \(Azure Container Registry, service principal\)\)/);
    noSecretsShown(r);
  });

  it("DigestCapture@1, WorkloadIdentityFederation: the OIDC token of this connection, with the job connection's token", async () => {
    const r = await run('DigestCapture', 'WorkloadIdentityFederation', { image, ...viaConnection });
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    assert.deepEqual(
      { oidc: acr.front.counts.oidc > 0, entra: acr.front.counts.entraToken, exchange: acr.front.counts.exchange },
      { oidc: true, entra: 1, exchange: 1 },
    );
    noSecretsShown(r);
  });

  it("DigestCapture@1, ManagedServiceIdentity: the agent host's system-assigned identity, no authority", async () => {
    const r = await run('DigestCapture', 'ManagedServiceIdentity', { image, ...viaConnection });
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    assert.deepEqual(acr.front.managedIdentity.counts, { issued: 1, refused: 0, imds: 0 });
    assert.deepEqual(acr.front.managedIdentity.requested, [undefined]);
    assert.deepEqual(
      { entra: acr.front.counts.entraToken, exchange: acr.front.counts.exchange },
      { entra: 0, exchange: 1 },
    );
    assert.ok(r.secrets.includes(acr.front.managedIdentity.header));
    noSecretsShown(r);
  });

  it('DigestLock@1, ServicePrincipal: locks the tag and the manifest', async () => {
    const lockImage = `${acr.front.host}/team/api:lock`;
    await pushAsync(g.layout, 'amd64', lockImage, acr.access);
    const r = await run('DigestLock', 'ServicePrincipal', {
      image: lockImage,
      expectedDigest: digest,
      ...viaConnection,
    });
    succeeded(r);
    assert.deepEqual(r.outputs, { IMAGE_DIGEST: digest, IMAGE_LOCKED: 'true' });
    assert.equal(acr.front.tagAttributes('team/api', 'lock')?.writeEnabled, false);
    assert.equal(acr.front.manifestAttributes('team/api', digest)?.writeEnabled, false);
    assert.equal(acr.front.counts.exchange, 1);
    noSecretsShown(r);
  });

  it('DigestPromote@1, source of type ACR (ServicePrincipal) to an open registry', async () => {
    const r = await run('DigestPromote', 'ServicePrincipal', {
      source: `${acr.front.host}/team/api@${digest}`,
      target: `${g.open.host}/from-acr/api:1.0`,
      sourceConnectionType: 'dockerRegistry',
      sourceDockerRegistryServiceConnection: 'release-acr',
      targetConnectionType: 'anonymous',
    });
    succeeded(r);
    assert.equal(r.outputs.IMAGE_DIGEST, digest);
    assert.equal(sha256Hex(inspectRaw(`${g.open.host}/from-acr/api:1.0`, g.openAccess)), digest);
    assert.equal(acr.front.counts.exchange, 1);
    noSecretsShown(r);
  });

  it('DigestPromote@1, target of type ACR (WorkloadIdentityFederation) from an open registry', async () => {
    const source = `${g.open.host}/to-acr/api:1.0`;
    await pushAsync(g.layout, 'arm64', source, g.openAccess);
    const sourceDigest = sha256Hex(await inspectRawAsync(source, g.openAccess));
    const r = await run('DigestPromote', 'WorkloadIdentityFederation', {
      source: `${g.open.host}/to-acr/api@${sourceDigest}`,
      target: `${acr.front.host}/promoted/api:1.0`,
      sourceConnectionType: 'anonymous',
      targetConnectionType: 'dockerRegistry',
      targetDockerRegistryServiceConnection: 'release-acr',
    });
    succeeded(r);
    assert.equal(r.outputs.IMAGE_REF, `${acr.front.host}/promoted/api@${sourceDigest}`);
    assert.equal(sha256Hex(await inspectRawAsync(`${acr.front.host}/promoted/api:1.0`, acr.access)), sourceDigest);
    assert.ok(acr.front.counts.oidc > 0);
    assert.equal(acr.front.counts.exchange, 1);
    noSecretsShown(r);
  });

  it('DigestEvidence@1, ManagedServiceIdentity: records the evidence and attaches it through the referrers API', async () => {
    const subjectPuts = acr.front.referrerCounts.subjectPuts;
    const r = await run('DigestEvidence', 'ManagedServiceIdentity', {
      image: `${acr.front.host}/team/api:1.0@${digest}`,
      environment: 'prod',
      scanStatus: 'passed',
      approver: 'Release Manager',
      ...viaConnection,
    });
    succeeded(r);
    assert.match(r.outputs.EVIDENCE_DIGEST ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(acr.front.referrerCounts.subjectPuts, subjectPuts + 1, 'the evidence was attached to the digest');
    assert.equal(acr.front.managedIdentity.counts.issued, 1);
    noSecretsShown(r);
  });

  it("never sends a connection's identity to a registry other than its loginServer: refused before any sign-in", async () => {
    const other = acrDockerRegistryConnection(acr, 'ServicePrincipal', { loginServer: 'otheracr.azurecr.io' });
    const r = await run('DigestCapture', 'ServicePrincipal', { image, ...viaConnection }, other);
    failedWith(
      r,
      'CREDENTIALS',
      `service connection "${connectionId('release-acr')}" given in dockerRegistryServiceConnection was made for otheracr.azurecr.io, but the image is on ${acr.front.host}`,
    );
    assert.deepEqual(
      { entra: acr.front.counts.entraToken, exchange: acr.front.counts.exchange, acr: acr.front.counts.acrToken },
      { entra: 0, exchange: 0, acr: 0 },
    );
  });

  it('fails on a wrong secret, naming the Docker Registry connection and the input, never printing the secret', async () => {
    const wrong = 'Wr0ng~acr-connection.secret';
    const r = await run(
      'DigestCapture',
      'ServicePrincipal',
      { image, ...viaConnection },
      acrDockerRegistryConnection(acr, 'ServicePrincipal', { serviceprincipalkey: wrong }),
    );
    failedWith(
      r,
      'CREDENTIALS',
      `Signing in with the Docker Registry service connection "${connectionId('release-acr')}" given in dockerRegistryServiceConnection failed`,
      'AADSTS7000215',
    );
    assert.ok(!visibleOutput(r).includes(wrong));
    assert.equal(acr.front.counts.exchange, 0);
  });

  it('names the input, the scheme and the fix for an Entra ID scheme on a connection that is not of type ACR', async () => {
    const sp = acrDockerRegistryConnection(acr, 'ServicePrincipal');
    const r = await run(
      'DigestCapture',
      'ServicePrincipal',
      { image, ...viaConnection },
      { ...sp, data: { registrytype: 'Others' } },
    );
    failedWith(
      r,
      'CREDENTIALS',
      'given in dockerRegistryServiceConnection uses the "ServicePrincipal" scheme',
      'registry type is "Others"',
      'Docker Registry → Azure Container Registry',
    );
    assert.deepEqual(
      { entra: acr.front.counts.entraToken, exchange: acr.front.counts.exchange },
      { entra: 0, exchange: 0 },
    );
  });
});
