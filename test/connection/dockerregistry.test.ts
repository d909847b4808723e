import assert from 'node:assert/strict';
import { resolveCredential } from '../../src/connection/credentials';
import type { DockerRegistrySignIn } from '../../src/connection/dockerregistry';
import { readDockerRegistryConnection } from '../../src/connection/dockerregistry';
import { isDigestReleaseError } from '../../src/errors';
import type { ServiceConnection } from '../../lab/agent';
import type { AcrIdentities } from '../../lab/azurerm';
import { acrDockerRegistryConnection, endpointReader } from '../../lab/azurerm';

// Which sign-in a Docker Registry service connection gets, from its scheme and registrytype, read
// the way the task reads it (case-insensitive names, as task-lib's upper-cased ENDPOINT_* keys). The
// task runs through the ACR front are in test/packaged/dockerregistry-acr.test.ts.

const acr: AcrIdentities = {
  front: { host: 'releaseacr.azurecr.io' },
  tenantId: '72f988bf-0000-4000-8000-00000000a1a1',
  secretApp: { clientId: '11111111-2222-4333-8444-555555555555', clientSecret: 'Sp-s3cret~value.not_for_logs' },
  federatedApp: {
    clientId: '33333333-4444-4555-8666-777777777777',
    serviceConnection: '5d0c6f0e-2b8a-4e61-9a57-0c3f1d2e4b6a',
  },
};
const INPUT = 'dockerRegistryServiceConnection';

function read(
  connection: ServiceConnection,
  env: NodeJS.ProcessEnv = {},
  extra: Record<string, ServiceConnection> = {},
): DockerRegistrySignIn {
  return readDockerRegistryConnection(endpointReader({ conn: connection, ...extra }), 'conn', INPUT, env);
}

function entra(signIn: DockerRegistrySignIn): Extract<DockerRegistrySignIn, { kind: 'entra' }> {
  assert.equal(signIn.kind, 'entra');
  return signIn as Extract<DockerRegistrySignIn, { kind: 'entra' }>;
}

function refused(connection: ServiceConnection, ...fragments: string[]): void {
  assert.throws(
    () => read(connection),
    (err: unknown) => {
      assert.ok(isDigestReleaseError(err, 'CREDENTIALS'), String(err));
      for (const fragment of fragments)
        assert.ok(err.message.includes(fragment), `message lacks "${fragment}": ${err.message}`);
      return true;
    },
  );
}

describe('Docker Registry service connections: which sign-in', () => {
  it('user name and password (Docker Hub, Others) sign in with Basic, for the registry they name', () => {
    const signIn = read({
      url: 'https://index.docker.io/v1/',
      scheme: 'UsernamePassword',
      parameters: { username: 'bot', password: 'pw', registry: 'https://index.docker.io/v1/' },
      data: { registrytype: 'DockerHub' },
    });
    assert.equal(signIn.kind, 'basic');
    assert.equal(signIn.registry, 'docker.io');
    assert.deepEqual(signIn.kind === 'basic' ? signIn.credential : undefined, {
      kind: 'basic',
      username: 'bot',
      password: 'pw',
      source: 'service connection "conn"',
    });
  });

  it('type ACR, ServicePrincipal: the service principal secret at Entra ID, for the loginServer, ACR audience, public cloud', () => {
    const signIn = entra(read(acrDockerRegistryConnection(acr, 'ServicePrincipal')));
    assert.equal(signIn.registry, 'releaseacr.azurecr.io');
    assert.equal(signIn.source, 'service connection "conn" (Azure Container Registry, service principal)');
    const c = signIn.connection;
    assert.deepEqual(
      {
        label: c.label,
        scheme: c.scheme,
        tenantId: c.tenantId,
        clientId: c.clientId,
        clientSecret: c.clientSecret,
        inputName: c.inputName,
      },
      {
        label: 'Docker Registry',
        scheme: 'servicePrincipalSecret',
        tenantId: acr.tenantId,
        clientId: acr.secretApp.clientId,
        clientSecret: acr.secretApp.clientSecret,
        inputName: INPUT,
      },
    );
    // The connection's URL is the registry's: never taken for Resource Manager.
    assert.equal(c.resourceManagerUrl, 'https://management.azure.com');
    assert.equal(c.registryScope, 'https://containerregistry.azure.net/.default');
    assert.equal(c.authorityHost, undefined, 'no authority in the connection: the public cloud');
  });

  it('type ACR, WorkloadIdentityFederation: the app and tenant, the pipeline token from the env or the job connection', () => {
    const connection = acrDockerRegistryConnection(acr, 'WorkloadIdentityFederation');
    const mapped = entra(read(connection, { SYSTEM_ACCESSTOKEN: 'mapped-token' })).connection;
    assert.deepEqual(
      { scheme: mapped.scheme, clientId: mapped.clientId, tenantId: mapped.tenantId, token: mapped.systemAccessToken },
      {
        scheme: 'workloadIdentity',
        clientId: acr.federatedApp.clientId,
        tenantId: acr.tenantId,
        token: 'mapped-token',
      },
    );
    const job = entra(
      read(connection, {}, { SystemVssConnection: { scheme: 'OAuth', parameters: { AccessToken: 'job-token' } } }),
    ).connection;
    assert.equal(job.systemAccessToken, 'job-token');
    assert.throws(
      () => read(connection),
      /Docker Registry service connection "conn" given in dockerRegistryServiceConnection uses workload identity federation, and the pipeline token/,
    );
  });

  it("type ACR, ManagedServiceIdentity: the agent host's identity, no secret", () => {
    const signIn = entra(
      read(acrDockerRegistryConnection(acr, 'ManagedServiceIdentity'), { IDENTITY_HEADER: 'host-secret' }),
    );
    assert.equal(signIn.connection.scheme, 'managedIdentity');
    assert.equal(
      signIn.connection.clientId,
      undefined,
      "the system-assigned identity, as the agent's and Docker@2's sign-in use",
    );
    assert.deepEqual(signIn.connection.hostSecrets, ['host-secret']);
    assert.equal(signIn.source, 'service connection "conn" (Azure Container Registry, managed identity)');
  });

  it('reads scheme, registrytype and names without regard to case, and the loginServer as a host', () => {
    const sp = acrDockerRegistryConnection(acr, 'ServicePrincipal');
    const signIn = entra(
      read({
        ...sp,
        scheme: 'serviceprincipal',
        parameters: {
          ...sp.parameters,
          loginServer: 'https://ReleaseAcr.azurecr.io/',
          tenantid: acr.tenantId,
          servicePrincipalId: acr.secretApp.clientId,
        },
        data: { registryType: 'acr' },
      }),
    );
    assert.equal(signIn.registry, 'releaseacr.azurecr.io');
    assert.equal(signIn.connection.scheme, 'servicePrincipalSecret');
  });

  it('an empty scheme is read from the scheme parameter, else an ACR-type connection is a service principal (as the agent and Docker@2 do)', () => {
    const wif = acrDockerRegistryConnection(acr, 'WorkloadIdentityFederation');
    assert.equal(
      entra(
        read(
          { ...wif, scheme: '', parameters: { ...wif.parameters, scheme: 'WorkloadIdentityFederation' } },
          { SYSTEM_ACCESSTOKEN: 't' },
        ),
      ).connection.scheme,
      'workloadIdentity',
    );
    assert.equal(
      entra(read({ ...acrDockerRegistryConnection(acr, 'ServicePrincipal'), scheme: '' })).connection.scheme,
      'servicePrincipalSecret',
    );
  });

  it('the loginServer falls back to the connection URL, and a connection naming neither is refused', () => {
    const sp = acrDockerRegistryConnection(acr, 'ServicePrincipal');
    const { loginServer: _omitted, ...parameters } = sp.parameters;
    assert.equal(entra(read({ ...sp, parameters })).registry, 'releaseacr.azurecr.io');
    refused(
      { scheme: sp.scheme, parameters, data: sp.data },
      'Docker Registry service connection "conn" given in dockerRegistryServiceConnection',
      'names no registry (loginServer)',
    );
  });

  it('refuses an Entra ID scheme on a connection that is not of type ACR, naming the input, the scheme and the fix', () => {
    const sp = acrDockerRegistryConnection(acr, 'ServicePrincipal');
    refused(
      { ...sp, data: {} },
      `given in ${INPUT}`,
      '"ServicePrincipal" scheme',
      'registry type is not set',
      'Docker Registry → Azure Container Registry',
      'connectionType: azureRM',
    );
    refused(
      { ...sp, scheme: 'ManagedServiceIdentity', data: { registrytype: 'Others' } },
      '"ManagedServiceIdentity" scheme',
      'registry type is "Others"',
    );
  });

  it('refuses a scheme it cannot sign in with, naming the input, the scheme and the kinds it reads', () => {
    refused(
      { url: 'https://registry.example', scheme: 'Token', parameters: { apitoken: 'x' } },
      `given in ${INPUT}`,
      'uses the "Token" scheme',
      'user name and password',
      'type Azure Container Registry',
    );
    refused(
      { ...acrDockerRegistryConnection(acr, 'ServicePrincipal'), scheme: 'PublishProfile' },
      '"PublishProfile" scheme (registry type ACR)',
    );
  });

  it('an ACR-type connection without its tenant or app is refused as the Docker Registry connection it is', () => {
    const sp = acrDockerRegistryConnection(acr, 'ServicePrincipal');
    const { tenantId: _tenant, ...noTenant } = sp.parameters;
    refused(
      { ...sp, parameters: noTenant },
      'The Docker Registry service connection "conn" given in dockerRegistryServiceConnection has no tenant id',
    );
    refused({ ...sp, parameters: { ...sp.parameters, serviceprincipalkey: '' } }, 'has no client secret');
  });

  it('a connection that is not passed is not found', () => {
    assert.throws(
      () => readDockerRegistryConnection(endpointReader({}), 'conn', INPUT, {}),
      /"conn" given in dockerRegistryServiceConnection was not found or is not authorised/,
    );
  });

  it("sends an ACR-type connection's identity to its loginServer only: another registry is refused before any sign-in", () => {
    const endpoints = endpointReader({ conn: acrDockerRegistryConnection(acr, 'ServicePrincipal') });
    const inputs = { connectionType: 'dockerRegistry' as const, dockerRegistryServiceConnection: 'conn' };
    assert.throws(
      () => resolveCredential('otheracr.azurecr.io', inputs, endpoints, {}),
      (err: unknown) =>
        isDigestReleaseError(err, 'CREDENTIALS') &&
        /was made for releaseacr\.azurecr\.io, but the image is on otheracr\.azurecr\.io/.test(err.message),
    );
    const { credential } = resolveCredential('ReleaseAcr.azurecr.io', inputs, endpoints, {});
    assert.equal(credential.kind, 'refreshTokenSource');
    assert.equal(credential.source, 'service connection "conn" (Azure Container Registry, service principal)');
    assert.ok(
      credential.kind === 'refreshTokenSource' && credential.tokens.secrets().includes(acr.secretApp.clientSecret),
      'the secret is known for masking',
    );
  });
});
