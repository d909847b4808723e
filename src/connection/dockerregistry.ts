import { DigestReleaseError } from '../errors';
import type { RegistryCredential } from '../registry/sign-in';
import type { AzureRmConnection } from './azurerm';
import { readAzureRmConnection } from './azurerm';
import { normaliseAuthKey } from './dockerconfig';
import type { EndpointReader } from './endpoint';

// A Docker Registry service connection (type dockerregistry), in either of its two kinds:
//
// - user name and password (scheme UsernamePassword, parameters `username`, `password`, `registry`):
//   what Docker@2 uses for Docker Hub and "Others", and for ACR with its admin user or a token;
// - "Azure Container Registry" (data `registrytype: ACR`): the registry is the `loginServer`
//   parameter (a host name, `myacr.azurecr.io`) and the identity an Entra ID one, under the names an
//   azurerm connection uses: scheme ServicePrincipal (`serviceprincipalid`, `serviceprincipalkey`,
//   `tenantId`, `authenticationType: spnKey`), WorkloadIdentityFederation (`serviceprincipalid`,
//   `tenantId`; the OIDC token is asked for this connection's id) or ManagedServiceIdentity
//   (`tenantId`; the agent host's identity). Those sign in the way azureRM does: an Entra ID token
//   for ACR's audience, traded at the registry's /oauth2/exchange.
//
// Read from: the agent's own sign-in for container jobs (azure-pipelines-agent,
// Agent.Worker/ContainerOperationProvider.cs: `registrytype` compared without case, the scheme
// from the authorization or else its `scheme` parameter, `loginServer` lower-cased as the host,
// ServicePrincipal as the default), Docker@2 (azure-pipelines-tasks-common-packages, docker-common
// registryauthenticationprovider/), and what Azure DevOps stores for such a connection
// (terraform-provider-azuredevops, resource_serviceendpoint_azurecr.go).

/** How a Docker Registry connection signs in, decided from its scheme and `registrytype`. */
export type DockerRegistrySignIn =
  | {
      readonly kind: 'basic';
      readonly credential: RegistryCredential;
      /** The registry host the connection was made for, as docker config keys are normalised. */
      readonly registry: string | undefined;
    }
  | {
      readonly kind: 'entra';
      readonly connection: AzureRmConnection;
      /** The connection's loginServer: the one registry its identity's tokens are sent to. */
      readonly registry: string;
      /** Where the credential comes from, for messages; no secret. */
      readonly source: string;
    };

/** The Entra ID schemes of an ACR-type connection, by their lower-cased names, as messages name them. */
const ENTRA_SCHEMES: ReadonlyMap<string, string> = new Map([
  ['serviceprincipal', 'service principal'],
  ['workloadidentityfederation', 'workload identity federation'],
  ['managedserviceidentity', 'managed identity'],
]);

const KINDS_HELP =
  'This task reads Docker Registry connections with a user name and password (Docker Hub, Others) and those of type Azure Container Registry ' +
  '(service principal, workload identity federation or managed identity).';

function connectionError(id: string, inputName: string, why: string): DigestReleaseError {
  return new DigestReleaseError(
    'CREDENTIALS',
    `The Docker Registry service connection "${id}" given in ${inputName} ${why}`,
  );
}

export function readDockerRegistryConnection(
  endpoints: EndpointReader,
  id: string,
  inputName: string,
  env: NodeJS.ProcessEnv,
): DockerRegistrySignIn {
  // The agent passes an authorization scheme that may be empty; Docker@2 and the agent then read
  // the `scheme` parameter, and an ACR-type connection with neither is a service principal.
  const givenScheme =
    endpoints.authorizationScheme(id)?.trim() || endpoints.authorizationParameter(id, 'scheme')?.trim() || undefined;
  const registryType = endpoints.dataParameter(id, 'registrytype')?.trim() || undefined;
  if (givenScheme === undefined && registryType === undefined) {
    throw connectionError(
      id,
      inputName,
      'was not found or is not authorised for this pipeline. Check its name and grant the pipeline access to it.',
    );
  }
  const isAcr = registryType?.toLowerCase() === 'acr';
  const scheme = givenScheme ?? (isAcr ? 'ServicePrincipal' : '');
  const lower = scheme.toLowerCase();

  if (lower === 'usernamepassword') return basicSignIn(endpoints, id, inputName);

  const entraScheme = ENTRA_SCHEMES.get(lower);
  if (entraScheme === undefined) {
    throw connectionError(
      id,
      inputName,
      `uses the "${scheme}" scheme${registryType ? ` (registry type ${registryType})` : ''}, which this task cannot sign in with. ${KINDS_HELP} ` +
        'Create the connection as one of those, or sign in to Azure Container Registry with an Azure Resource Manager connection (connectionType: azureRM).',
    );
  }
  if (!isAcr) {
    throw connectionError(
      id,
      inputName,
      `uses the "${scheme}" scheme, which only a connection of type Azure Container Registry signs in with, and its registry type is ${registryType ? `"${registryType}"` : 'not set'} (data registrytype). ` +
        'Create it as Docker Registry → Azure Container Registry (which records the registry and registrytype ACR), or use an Azure Resource Manager connection (connectionType: azureRM).',
    );
  }

  const loginServer = endpoints.authorizationParameter(id, 'loginServer') ?? endpoints.url(id);
  const registry = loginServer === undefined ? '' : normaliseAuthKey(loginServer);
  if (registry === '') {
    throw connectionError(
      id,
      inputName,
      `is of type Azure Container Registry (${entraScheme}) but names no registry (loginServer). Edit the service connection and choose the registry again.`,
    );
  }
  return {
    kind: 'entra',
    connection: readAzureRmConnection(endpoints, id, inputName, env, { label: 'Docker Registry', scheme }),
    registry,
    source: `service connection "${id}" (Azure Container Registry, ${entraScheme})`,
  };
}

function basicSignIn(endpoints: EndpointReader, id: string, inputName: string): DockerRegistrySignIn {
  const username = endpoints.authorizationParameter(id, 'username') ?? '';
  const password = endpoints.authorizationParameter(id, 'password') ?? '';
  if (username === '') {
    throw connectionError(
      id,
      inputName,
      'has no user name. Edit the service connection and set the Docker ID or user name.',
    );
  }
  const registryUrl = endpoints.authorizationParameter(id, 'registry') ?? endpoints.url(id);
  return {
    kind: 'basic',
    credential: { kind: 'basic', username, password, source: `service connection "${id}"` },
    registry: registryUrl ? normaliseAuthKey(registryUrl) : undefined,
  };
}
