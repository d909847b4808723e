import type { EndpointReader } from '../src/connection/endpoint';
import type { AcrGround } from './acr/ground';
import type { ServiceConnection as Endpoint } from './agent';

// Service connections with a Microsoft Entra ID identity for tests, as the agent hands them to
// tasks: Azure Resource Manager connections, and Docker Registry connections of type Azure Container
// Registry; and the same records as an EndpointReader for tests that call the core in this process.

/** An EndpointReader over the same records the task runs get, for tests in this process. */
export function endpointReader(endpoints: Record<string, Endpoint>): EndpointReader {
  const find = (id: string): Endpoint | undefined => endpoints[id];
  const ci = (record: Record<string, string> | undefined, key: string): string | undefined =>
    Object.entries(record ?? {}).find(([name]) => name.toLowerCase() === key.toLowerCase())?.[1];
  return {
    url: (id) => find(id)?.url,
    // task-lib's getEndpointAuthorizationScheme: an empty scheme reads as none (src/tasks/agent.ts).
    authorizationScheme: (id) => find(id)?.scheme || undefined,
    authorizationParameter: (id, key) => ci(find(id)?.parameters, key),
    dataParameter: (id, key) => ci(find(id)?.data, key),
  };
}

export function secretConnection(
  acr: AcrGround,
  overrides: Partial<Record<'tenantid' | 'serviceprincipalkey', string>> = {},
): Endpoint {
  return {
    url: 'https://management.azure.com/',
    scheme: 'ServicePrincipal',
    parameters: {
      tenantid: acr.tenantId,
      serviceprincipalid: acr.secretApp.clientId,
      serviceprincipalkey: acr.secretApp.clientSecret,
      authenticationType: 'spnKey',
      ...overrides,
    },
    data: {
      environment: 'AzureCloud',
      environmentAuthorityUrl: `${acr.front.authorityHost}/`,
      resourceManagerUrl: 'https://management.azure.com/',
    },
  };
}

/**
 * A managed-identity connection (scheme ManagedServiceIdentity) as the agent hands it: the tenant in
 * the authorization, the subscription and cloud in the data, and, for a user-assigned identity, its
 * client id in the data as `msiclientId` (where Microsoft's Azure tasks read it). No secret: the
 * token comes from the agent host's identity endpoint (the front's, through managedIdentity.env()).
 */
export function managedIdentityConnection(acr: AcrGround, options: { readonly msiclientId?: string } = {}): Endpoint {
  return {
    url: 'https://management.azure.com/',
    scheme: 'ManagedServiceIdentity',
    parameters: { tenantid: acr.tenantId },
    data: {
      environment: 'AzureCloud',
      subscriptionId: '00000000-0000-4000-8000-000000000501',
      subscriptionName: 'release',
      scopeLevel: 'Subscription',
      environmentAuthorityUrl: 'https://login.windows.net/',
      resourceManagerUrl: 'https://management.azure.com/',
      ...(options.msiclientId !== undefined ? { msiclientId: options.msiclientId } : {}),
    },
  };
}

export type AcrConnectionScheme = 'ServicePrincipal' | 'WorkloadIdentityFederation' | 'ManagedServiceIdentity';

/**
 * A Docker Registry service connection of type Azure Container Registry for the front's registry,
 * with the names and casing Azure DevOps stores (terraform-provider-azuredevops,
 * resource_serviceendpoint_azurecr.go: authorization `tenantId`, `loginServer` (the host),
 * `scope` (the registry's resource id), `serviceprincipalid`, and for ServicePrincipal
 * `authenticationType: spnKey` with the secret `serviceprincipalkey`; data `registrytype: ACR`,
 * `registryId`, `subscriptionId`, `subscriptionName` and the app's bookkeeping), which the agent and
 * Docker@2 read (azure-pipelines-agent ContainerOperationProvider.cs; docker-common
 * registryauthenticationprovider/). A workload identity connection also holds its issuer and subject
 * once created, and `activeDirectoryServiceEndpointResourceId`, which the agent's own sign-in for
 * container jobs requires (its value is in no public source: the model gives Resource Manager's
 * classic audience, and the task does not read it). The id of a workload identity connection is the
 * one the front's federated app trusts. No authority: the tests point AZURE_AUTHORITY_HOST at the front.
 */
/** What a connection to the front's registry needs of its ground; unit tests give these alone. */
export type AcrIdentities = Pick<AcrGround, 'tenantId' | 'secretApp' | 'federatedApp'> & {
  readonly front: { readonly host: string };
};

export function acrDockerRegistryConnection(
  acr: AcrIdentities,
  scheme: AcrConnectionScheme,
  overrides: { readonly loginServer?: string; readonly serviceprincipalkey?: string } = {},
): Endpoint {
  const loginServer = overrides.loginServer ?? acr.front.host;
  const subscriptionId = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
  const registryId = `/subscriptions/${subscriptionId}/resourceGroups/rg-release/providers/Microsoft.ContainerRegistry/registries/releaseacr`;
  const bookkeeping = {
    appObjectId: '6e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b',
    spnObjectId: '7f2a3b4c-5d6e-4f7a-8b9c-0d1e2f3a4b5c',
    azureSpnRoleAssignmentId: '8a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d',
    azureSpnPermissions:
      '[{"roleAssignmentId":"8a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d","resourceProvider":"Microsoft.RoleAssignment","provisioned":true}]',
  };
  const data = { registryId, subscriptionId, subscriptionName: 'release', registrytype: 'ACR' };
  switch (scheme) {
    case 'ServicePrincipal':
      return {
        url: `https://${loginServer}`,
        scheme,
        parameters: {
          authenticationType: 'spnKey',
          tenantId: acr.tenantId,
          loginServer,
          scope: registryId,
          serviceprincipalid: acr.secretApp.clientId,
          serviceprincipalkey: overrides.serviceprincipalkey ?? acr.secretApp.clientSecret,
        },
        data: { ...data, ...bookkeeping },
      };
    case 'WorkloadIdentityFederation':
      return {
        id: acr.federatedApp.serviceConnection,
        url: `https://${loginServer}`,
        scheme,
        parameters: {
          serviceprincipalid: acr.federatedApp.clientId,
          tenantId: acr.tenantId,
          loginServer,
          scope: registryId,
          workloadIdentityFederationIssuer: 'https://vstoken.dev.azure.com/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
          workloadIdentityFederationSubject: 'sc://digest-release-lab/Contoso Shop/releaseacr',
        },
        data: {
          ...data,
          creationMode: 'Automatic',
          ...bookkeeping,
          activeDirectoryServiceEndpointResourceId: 'https://management.core.windows.net/',
        },
      };
    case 'ManagedServiceIdentity':
      return { url: `https://${loginServer}`, scheme, parameters: { tenantId: acr.tenantId, loginServer }, data };
  }
}
