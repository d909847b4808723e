import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCredential } from '../../src/connection/credentials';
import { isDigestReleaseError } from '../../src/errors';
import { parseReference } from '../../src/reference/reference';
import { RegistryClient } from '../../src/registry/client';
import { captureDigest } from '../../src/capture/resolve';
import type { SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import { endpointReader, secretConnection } from '../../lab/azurerm';
import { visibleOutput } from '../../lab/outcome';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { ROOT } from '../../lab/paths';
import type { AgentJobOptions, ServiceConnection, StepOptions, TaskRun } from '../../lab/agent';
import { connectionId, runTask } from '../../lab/agent';

// Signing in to Azure Container Registry with an Azure Resource Manager service connection, through
// the ACR front: the real @azure/identity code talks to the front as its Entra ID authority, and
// the ACR exchange and token calls go to the front as they go to ACR.

describe('Azure Resource Manager sign-in to ACR (through the ACR front)', function () {
  this.timeout(120_000);
  let g: TestGround;
  let acr: SuiteAcr;
  let image: string;
  let digest: string;

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-capture', { images: { 'team/api:1.0': 'amd64' } });
    image = `${acr.front.host}/team/api:1.0`;
    digest = acr.digests['team/api:1.0']!;
  });
  after(() => acr.close());

  it('runs @azure/identity 4.13.1, which supports Node 20, on this Node 20', () => {
    const manifest: unknown = JSON.parse(
      readFileSync(join(ROOT, 'node_modules', '@azure', 'identity', 'package.json'), 'utf8'),
    );
    assert.ok(typeof manifest === 'object' && manifest !== null && 'version' in manifest && 'engines' in manifest);
    assert.equal(manifest.version, '4.13.1');
    assert.deepEqual(manifest.engines, { node: '>=20.0.0' });
    const pinned: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.ok(typeof pinned === 'object' && pinned !== null && 'dependencies' in pinned);
    assert.ok(
      typeof pinned.dependencies === 'object' &&
        pinned.dependencies !== null &&
        '@azure/identity' in pinned.dependencies,
    );
    assert.equal(pinned.dependencies['@azure/identity'], '4.13.1', 'pinned exactly: 4.13.2 and later need Node 22');
    assert.equal(
      process.versions.node.split('.')[0],
      '20',
      'this suite is meant to run on Node 20, the oldest handler the tasks declare',
    );
  });

  it('signs in with a client secret, exchanges once, and two captures in one process share the refresh token', async () => {
    acr.front.resetCounts();
    const endpoints = endpointReader({ arm: secretConnection(acr) });
    const ref = parseReference(image);
    for (let i = 0; i < 2; i++) {
      const { credential } = resolveCredential(
        ref.registry,
        { connectionType: 'azureRM', azureSubscription: 'arm' },
        endpoints,
        {},
      );
      const client = new RegistryClient(ref.registry, { credential });
      const result = await captureDigest({ image: ref }, client);
      assert.equal(result.digest, digest);
    }
    assert.equal(acr.front.counts.exchange, 1, 'one /oauth2/exchange per registry per process');
    assert.equal(acr.front.counts.entraToken, 1, 'one Entra ID token');
    assert.equal(acr.front.counts.acrToken, 2, 'one /oauth2/token per client and scope');
  });

  it('asks Entra ID for ACR-audience tokens in the public cloud, so a registry that refuses Resource Manager tokens signs in', async () => {
    const strict = await acrGroundFor(g, 'acr-audience', {
      acceptResourceManagerTokens: false,
      images: { 'team/api:1.0': 'amd64' },
    });
    try {
      const strictImage = `${strict.front.host}/team/api:1.0`;
      const endpoints = endpointReader({ arm: secretConnection(strict) });
      const ref = parseReference(strictImage);
      const { credential } = resolveCredential(
        ref.registry,
        { connectionType: 'azureRM', azureSubscription: 'arm' },
        endpoints,
        {},
      );
      const result = await captureDigest({ image: ref }, new RegistryClient(ref.registry, { credential }));
      assert.equal(result.digest, strict.digests['team/api:1.0']);
      assert.equal(strict.front.counts.exchange, 1);
    } finally {
      await strict.close();
    }
  });

  it('fails on a wrong client secret, naming the service connection and not the secret', async () => {
    const wrong = 'Wr0ng~secret.value';
    const endpoints = endpointReader({ arm: secretConnection(acr, { serviceprincipalkey: wrong }) });
    const ref = parseReference(image);
    const { credential } = resolveCredential(
      ref.registry,
      { connectionType: 'azureRM', azureSubscription: 'arm' },
      endpoints,
      {},
    );
    await assert.rejects(
      captureDigest({ image: ref }, new RegistryClient(ref.registry, { credential })),
      (err: unknown) => {
        assert.ok(isDigestReleaseError(err, 'CREDENTIALS'), String(err));
        assert.match(err.message, /service connection "arm" given in azureSubscription/);
        assert.match(err.message, /AADSTS7000215/);
        assert.ok(!err.message.includes(wrong));
        return true;
      },
    );
  });

  describe('DigestCapture@1 with connectionType azureRM (packaged task)', () => {
    const capture = (connection: ServiceConnection, job: AgentJobOptions & StepOptions = {}): Promise<TaskRun> =>
      runTask('DigestCapture', {
        inputs: { image, connectionType: 'azureRM', azureSubscription: 'arm' },
        connections: { arm: connection },
        ...job,
        hostEnv: { ...g.hostEnv, ...job.hostEnv },
      });

    it('captures with a service principal secret, masking the secret and the tokens', async () => {
      acr.front.resetCounts();
      const run = await capture(secretConnection(acr));
      assert.equal(run.result, 'Succeeded', `${run.message}\n${run.stdout}\n${run.stderr}`);
      assert.equal(run.outputs.IMAGE_DIGEST, digest);
      assert.ok(run.secrets.includes(acr.secretApp.clientSecret), 'the client secret is masked');
      assert.ok(run.secrets.length >= 4, 'the Entra ID token, the refresh token and the access token are masked too');
      assert.ok(!visibleOutput(run).includes(acr.secretApp.clientSecret));
      assert.deepEqual(
        { exchange: acr.front.counts.exchange, entra: acr.front.counts.entraToken },
        { exchange: 1, entra: 1 },
      );
    });

    it('captures with a service principal certificate (a signed client assertion the front checks)', async () => {
      const run = await capture({
        scheme: 'ServicePrincipal',
        parameters: {
          tenantid: acr.tenantId,
          serviceprincipalid: acr.certificateApp.clientId,
          authenticationType: 'spnCertificate',
          servicePrincipalCertificate: acr.certificateApp.pem,
        },
        data: { environmentAuthorityUrl: acr.front.authorityHost },
      });
      assert.equal(run.result, 'Succeeded', `${run.message}\n${run.stdout}\n${run.stderr}`);
      assert.equal(run.outputs.IMAGE_DIGEST, digest);
    });

    // The front's OIDC endpoint issues tokens for this connection id only, as Azure DevOps does.
    const wif = (): ServiceConnection => ({
      id: acr.federatedApp.serviceConnection,
      scheme: 'WorkloadIdentityFederation',
      parameters: { tenantid: acr.tenantId, serviceprincipalid: acr.federatedApp.clientId },
      data: { environmentAuthorityUrl: acr.front.authorityHost },
    });

    // The job's Azure DevOps connection carries the pipeline token (System.AccessToken) and the
    // server sends System.OidcRequestUri, as for any job.
    const federatedJob = (): AgentJobOptions => ({
      collection: { accessToken: acr.front.systemAccessToken },
      variables: { 'System.OidcRequestUri': acr.front.oidcRequestUri },
    });

    it('captures with workload identity federation when System.AccessToken is mapped into the step', async () => {
      acr.front.resetCounts();
      const run = await capture(wif(), { ...federatedJob(), env: { SYSTEM_ACCESSTOKEN: '$(System.AccessToken)' } });
      assert.equal(run.result, 'Succeeded', `${run.message}\n${run.stdout}\n${run.stderr}`);
      assert.equal(run.outputs.IMAGE_DIGEST, digest);
      assert.ok(acr.front.counts.oidc > 0, 'the OIDC token came from the Azure DevOps endpoint');
      assert.ok(run.secrets.includes(acr.front.systemAccessToken));
    });

    it('captures with workload identity federation without the mapping, with the token of the job connection the agent always passes', async () => {
      acr.front.resetCounts();
      const run = await capture(wif(), federatedJob());
      assert.equal(run.result, 'Succeeded', `${run.message}\n${run.stdout}\n${run.stderr}`);
      assert.ok(acr.front.counts.oidc > 0, 'the OIDC token came from the Azure DevOps endpoint');
      assert.ok(run.secrets.includes(acr.front.systemAccessToken));
    });

    it('honours AZURE_AUTHORITY_HOST when the connection names no authority', async () => {
      const endpoint = secretConnection(acr);
      const run = await capture(
        { ...endpoint, data: {} },
        { hostEnv: { AZURE_AUTHORITY_HOST: acr.front.authorityHost } },
      );
      assert.equal(run.result, 'Succeeded', `${run.message}\n${run.stdout}\n${run.stderr}`);
    });

    it('fails on a wrong tenant or secret, naming the service connection and never printing the secret', async () => {
      const wrongTenant = await capture(secretConnection(acr, { tenantid: '00000000-0000-4000-8000-00000000dead' }));
      assert.equal(wrongTenant.result, 'Failed');
      assert.match(
        wrongTenant.message,
        new RegExp(`service connection "${connectionId('arm')}" given in azureSubscription`),
      );
      assert.match(wrongTenant.message, /tenant id "00000000-0000-4000-8000-00000000dead" is wrong/);
      assert.ok(!visibleOutput(wrongTenant).includes(acr.secretApp.clientSecret));

      const wrong = 'An0ther-wrong~secret';
      const wrongSecret = await capture(secretConnection(acr, { serviceprincipalkey: wrong }));
      assert.equal(wrongSecret.result, 'Failed');
      assert.match(
        wrongSecret.message,
        new RegExp(`service connection "${connectionId('arm')}" given in azureSubscription.*AADSTS7000215`),
      );
      assert.match(wrongSecret.message, /\[CREDENTIALS\]$/);
      assert.ok(!visibleOutput(wrongSecret).includes(wrong));
    });

    it('does not send an Entra ID token to a registry that is not an ACR', async () => {
      const run = await runTask('DigestCapture', {
        inputs: { image: `${g.basic.host}/team/app:oci`, connectionType: 'azureRM', azureSubscription: 'arm' },
        connections: { arm: secretConnection(acr) },
        hostEnv: g.hostEnv,
      });
      assert.equal(run.result, 'Failed');
      assert.match(run.message, /not how Azure Container Registry signs in/);
    });
  });
});
