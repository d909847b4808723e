import { EndpointReader } from '../../src/connection/endpoint';
import { AcrGround } from './acr-front';
import { ServiceConnection as Endpoint } from './agent';

// Azure Resource Manager service connections for tests, as the agent hands them to tasks, and the
// same records as an EndpointReader for tests that call the core in this process.

/** An EndpointReader over the same records the task runs get, for tests in this process. */
export function endpointReader(endpoints: Record<string, Endpoint>): EndpointReader {
  const find = (id: string): Endpoint | undefined => endpoints[id];
  const ci = (record: Record<string, string> | undefined, key: string): string | undefined =>
    Object.entries(record ?? {}).find(([name]) => name.toLowerCase() === key.toLowerCase())?.[1];
  return {
    url: (id) => find(id)?.url,
    authorizationScheme: (id) => find(id)?.scheme,
    authorizationParameter: (id, key) => ci(find(id)?.parameters, key),
    dataParameter: (id, key) => ci(find(id)?.data, key),
  };
}

export function secretConnection(acr: AcrGround, overrides: Partial<Record<'tenantid' | 'serviceprincipalkey', string>> = {}): Endpoint {
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
    data: { environment: 'AzureCloud', environmentAuthorityUrl: `${acr.front.authorityHost}/`, resourceManagerUrl: 'https://management.azure.com/' },
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
