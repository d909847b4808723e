import type { TokenCredential } from '@azure/identity';
import type { EntraToken, EntraTokenSource } from '../acr/exchange';
import { DigestReleaseError, messageOf } from '../errors';
import type { Network } from '../http/network';
import { DIRECT_NETWORK } from '../http/network';
import type { EndpointReader } from './endpoint';
import { sdkHttpClient } from '../http/sdk-client';

// An Azure Resource Manager service connection (type azurerm) turned into Microsoft Entra ID
// tokens through @azure/identity: workload identity federation, service principal with a secret or
// a certificate, managed identity. The connection's cloud decides where to sign in (its authority)
// and for what (its Resource Manager URL: ACR accepts Resource Manager tokens at /oauth2/exchange,
// as `az acr login` sends them). @azure/identity is loaded only when a token is first needed, so
// tasks signing in any other way never load it. A Docker Registry connection of type Azure
// Container Registry holds the same identities under the same names (./dockerregistry.ts), and is
// read here too, as the Docker Registry connection it is.

export type AzureRmScheme =
  | 'workloadIdentity'
  | 'servicePrincipalSecret'
  | 'servicePrincipalCertificate'
  | 'managedIdentity';

/** The kind of service connection the identity is read from, as messages name it. */
export type EntraConnectionLabel = 'Azure Resource Manager' | 'Docker Registry';

/**
 * How to read a connection that is not of type azurerm: a Docker Registry connection of type ACR.
 * Its URL is the registry's, not Resource Manager's, and its scheme may have been read from its
 * `scheme` parameter (./dockerregistry.ts).
 */
export interface EntraConnectionOf {
  readonly label: EntraConnectionLabel;
  readonly scheme: string;
}

/** An Entra ID identity from a service connection: of type azurerm, or Docker Registry of type ACR. */
export interface AzureRmConnection {
  readonly id: string;
  readonly inputName: string;
  readonly label: EntraConnectionLabel;
  readonly scheme: AzureRmScheme;
  readonly tenantId: string | undefined;
  /**
   * The app's client id; for a managed identity, the user-assigned identity the connection names
   * (its `msiclientId` data, as Microsoft's own Azure tasks read it), or undefined for the host's
   * system-assigned identity.
   */
  readonly clientId: string | undefined;
  readonly clientSecret?: string;
  readonly certificate?: string;
  /** Where to sign in, without the tenant; undefined for the public cloud. */
  readonly authorityHost: string | undefined;
  /** True for an authority that is not a known Azure cloud: no instance discovery at the public cloud. */
  readonly disableInstanceDiscovery: boolean;
  /** The cloud's Resource Manager URL (origin), for Resource Manager calls such as importImage. */
  readonly resourceManagerUrl: string;
  /** `<Resource Manager URL>/.default`: tokens for Resource Manager calls only. */
  readonly resourceManagerScope: string;
  /**
   * The audience of the tokens sent to a registry's /oauth2/exchange. In the public cloud this is
   * ACR's own audience, so a token a registry (or something posing as one) receives cannot manage
   * Azure resources, and registries that refuse Resource Manager tokens (the
   * azureADAuthenticationAsArmPolicy) still accept it. Other clouds use their Resource Manager
   * audience, which every registry accepts unless that policy is set.
   */
  readonly registryScope: string;
  /** Workload identity federation: the pipeline's token that asks Azure DevOps for the OIDC token. */
  readonly systemAccessToken?: string;
  /** Managed identity: the host's identity-endpoint secrets (IDENTITY_HEADER, MSI_SECRET), kept out of messages. */
  readonly hostSecrets?: readonly string[];
}

const PUBLIC_RESOURCE_MANAGER = 'https://management.azure.com/';
/** Entra ID's audience for Azure Container Registry in the public cloud. */
const ACR_AUDIENCE_SCOPE = 'https://containerregistry.azure.net/.default';
/** Authorities that instance discovery knows; anything else (Azure Stack, a private front) skips it. */
const KNOWN_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login.microsoftonline.de',
]);

const WIF_HELP =
  'Workload identity federation needs the pipeline token: map it into the step with `env: { SYSTEM_ACCESSTOKEN: $(System.AccessToken) }`, ' +
  'and run in Azure Pipelines (the agent sets SYSTEM_OIDCREQUESTURI).';

function credentialsError(
  connection: { id: string; inputName: string; label: EntraConnectionLabel },
  why: string,
): DigestReleaseError {
  return new DigestReleaseError(
    'CREDENTIALS',
    `The ${connection.label} service connection "${connection.id}" given in ${connection.inputName} ${why}`,
  );
}

export function readAzureRmConnection(
  endpoints: EndpointReader,
  id: string,
  inputName: string,
  env: NodeJS.ProcessEnv,
  of?: EntraConnectionOf,
): AzureRmConnection {
  const label = of?.label ?? 'Azure Resource Manager';
  const where = { id, inputName, label };
  const rawScheme = of ? of.scheme : endpoints.authorizationScheme(id);
  if (rawScheme === undefined) {
    throw credentialsError(
      where,
      'was not found or is not authorised for this pipeline. Check its name and grant the pipeline access to it.',
    );
  }
  const param = (key: string): string | undefined => endpoints.authorizationParameter(id, key);
  const tenantId = param('tenantid');
  let scheme: AzureRmScheme;
  switch (rawScheme.toLowerCase()) {
    case 'workloadidentityfederation':
      scheme = 'workloadIdentity';
      break;
    case 'managedserviceidentity':
      scheme = 'managedIdentity';
      break;
    case 'serviceprincipal':
      scheme =
        (param('authenticationType') ?? 'spnKey').toLowerCase() === 'spncertificate'
          ? 'servicePrincipalCertificate'
          : 'servicePrincipalSecret';
      break;
    default:
      throw credentialsError(
        where,
        `uses the "${rawScheme}" scheme; this task signs in with workload identity federation, a service principal (secret or certificate) or a managed identity.`,
      );
  }
  // A managed-identity connection has no app of its own: it names, at most, which of the agent
  // host's user-assigned identities to use (data msiclientId); none means the system-assigned one.
  const clientId =
    scheme === 'managedIdentity' ? nonEmpty(endpoints.dataParameter(id, 'msiclientId')) : param('serviceprincipalid');
  if (scheme !== 'managedIdentity' && (!tenantId || !clientId)) {
    throw credentialsError(
      where,
      `has no ${!tenantId ? 'tenant id' : 'service principal (client) id'}. Edit the service connection and check its details.`,
    );
  }

  const authority =
    dataUrl(endpoints, id, 'activeDirectoryAuthority') ??
    dataUrl(endpoints, id, 'environmentAuthorityUrl') ??
    nonEmpty(env.AZURE_AUTHORITY_HOST);
  const authorityHost = authority?.replace(/\/+$/, '');
  let disableInstanceDiscovery = false;
  if (authorityHost !== undefined) {
    let host: string;
    try {
      host = new URL(authorityHost).hostname.toLowerCase();
    } catch {
      throw credentialsError(
        where,
        `has the authority URL "${authorityHost}", which is not a URL. Edit the service connection's environment.`,
      );
    }
    disableInstanceDiscovery = !KNOWN_AUTHORITY_HOSTS.has(host);
  }
  // An azurerm connection's URL is its cloud's Resource Manager; a Docker Registry connection's is the registry.
  const resourceManager =
    dataUrl(endpoints, id, 'resourceManagerUrl') ?? (of ? undefined : endpoints.url(id)) ?? PUBLIC_RESOURCE_MANAGER;
  let resourceManagerUrl: string;
  try {
    resourceManagerUrl = new URL(resourceManager).origin;
  } catch {
    throw credentialsError(
      where,
      `has the Resource Manager URL "${resourceManager}", which is not a URL. Edit the service connection's environment.`,
    );
  }

  const resourceManagerScope = `${resourceManagerUrl}/.default`;
  const registryScope =
    resourceManagerUrl === new URL(PUBLIC_RESOURCE_MANAGER).origin ? ACR_AUDIENCE_SCOPE : resourceManagerScope;
  const base = {
    id,
    inputName,
    label,
    scheme,
    tenantId,
    clientId,
    authorityHost,
    disableInstanceDiscovery,
    resourceManagerUrl,
    resourceManagerScope,
    registryScope,
  };
  switch (scheme) {
    case 'servicePrincipalSecret': {
      const clientSecret = param('serviceprincipalkey');
      if (!clientSecret)
        throw credentialsError(
          where,
          'has no client secret. Edit the service connection and set the service principal key.',
        );
      return { ...base, clientSecret };
    }
    case 'servicePrincipalCertificate': {
      const certificate = param('servicePrincipalCertificate');
      if (!certificate)
        throw credentialsError(
          where,
          'has no certificate. Edit the service connection and upload the PEM with the certificate and its private key.',
        );
      return { ...base, certificate };
    }
    case 'workloadIdentity': {
      // Mapped by the pipeline (env SYSTEM_ACCESSTOKEN); else the agent's own connection record.
      const systemAccessToken =
        nonEmpty(env.SYSTEM_ACCESSTOKEN) ?? endpoints.authorizationParameter('SystemVssConnection', 'AccessToken');
      if (!systemAccessToken)
        throw credentialsError(
          where,
          `uses workload identity federation, and the pipeline token System.AccessToken is not available. ${WIF_HELP}`,
        );
      return { ...base, systemAccessToken };
    }
    case 'managedIdentity': {
      const hostSecrets = [env.IDENTITY_HEADER, env.MSI_SECRET]
        .map(nonEmpty)
        .filter((s): s is string => s !== undefined);
      return { ...base, hostSecrets };
    }
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function dataUrl(endpoints: EndpointReader, id: string, key: string): string | undefined {
  return nonEmpty(endpoints.dataParameter(id, key));
}

/**
 * The Entra ID tokens of a connection for one audience: `registryScope` or `resourceManagerScope`,
 * signed in over `network` (the task's: the agent's proxy and trust).
 */
export function entraTokenSource(
  connection: AzureRmConnection,
  scope: string,
  network: Network = DIRECT_NETWORK,
): EntraTokenSource {
  let credential: Promise<TokenCredential> | undefined;
  // The agent masks single lines only: a certificate's PEM is masked line by line (its base64 body).
  const pemLines = (connection.certificate ?? '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '' && !line.startsWith('-----'));
  const secrets = [
    connection.clientSecret,
    connection.systemAccessToken,
    ...pemLines,
    ...(connection.hostSecrets ?? []),
  ].filter((s): s is string => s !== undefined);
  return {
    description: `the ${connection.label} service connection "${connection.id}" (${connection.inputName})`,
    tenantId: connection.tenantId,
    secrets: () => secrets,
    async getToken(): Promise<EntraToken> {
      credential ??= makeCredential(connection, network);
      let token;
      try {
        token = await (await credential).getToken(scope);
      } catch (err) {
        throw signInFailed(connection, err, secrets);
      }
      if (!token) throw signInFailed(connection, new Error('no token was returned'), secrets);
      return { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp };
    },
  };
}

async function makeCredential(connection: AzureRmConnection, network: Network): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  // Every credential signs in over the task's own connections, never the SDK's.
  const httpClient = sdkHttpClient(network);
  const options = {
    ...(connection.authorityHost !== undefined ? { authorityHost: connection.authorityHost } : {}),
    disableInstanceDiscovery: connection.disableInstanceDiscovery,
    httpClient,
  };
  const tenantId = connection.tenantId ?? '';
  const clientId = connection.clientId ?? '';
  try {
    switch (connection.scheme) {
      case 'servicePrincipalSecret':
        return new identity.ClientSecretCredential(tenantId, clientId, connection.clientSecret ?? '', options);
      case 'servicePrincipalCertificate':
        return new identity.ClientCertificateCredential(
          tenantId,
          clientId,
          { certificate: connection.certificate ?? '' },
          options,
        );
      case 'workloadIdentity':
        return new identity.AzurePipelinesCredential(
          tenantId,
          clientId,
          connection.id,
          connection.systemAccessToken ?? '',
          options,
        );
      case 'managedIdentity':
        // Where the token comes from is the host's business (IMDS on an Azure VM or scale set, the
        // App Service, Arc or AKS workload-identity endpoints their environment names); only which
        // identity is the connection's.
        return new identity.ManagedIdentityCredential({
          ...(connection.clientId !== undefined ? { clientId: connection.clientId } : {}),
          httpClient,
        });
    }
  } catch (err) {
    throw signInFailed(connection, err, []);
  }
}

function signInFailed(connection: AzureRmConnection, err: unknown, secrets: readonly string[]): DigestReleaseError {
  let detail = messageOf(err).replace(/\s+/g, ' ').trim();
  if (/endpoints_resolution_error/.test(detail)) {
    // MSAL's words for an authority without OpenID metadata; Entra ID answers so for an unknown tenant.
    detail = `the authority ${connection.authorityHost ?? 'https://login.microsoftonline.com'}/${connection.tenantId ?? ''} has no OpenID configuration, so the tenant id "${connection.tenantId ?? ''}" is wrong or the authority is not the connection's cloud (${detail})`;
  }
  for (const secret of secrets) if (secret !== '') detail = detail.split(secret).join('***');
  const fix: Record<AzureRmScheme, string> = {
    servicePrincipalSecret:
      'Check the tenant, the service principal id and that its client secret has not expired; edit the service connection to renew it.',
    servicePrincipalCertificate:
      'Check the tenant, the service principal id and that the certificate is the one registered for the app and has not expired.',
    workloadIdentity: `Check the tenant and the federated credential of the app registration (issuer and subject of this service connection). ${WIF_HELP}`,
    managedIdentity:
      'Managed identity works only on an agent running in Azure whose identity has a role on the registry. ' +
      (connection.clientId !== undefined
        ? `The connection names the user-assigned identity with client id ${connection.clientId} (msiclientId): it must be assigned to the agent's VM or scale set.`
        : "The connection names no user-assigned identity (msiclientId), so the agent host's system-assigned identity is used: it must be enabled."),
  };
  return new DigestReleaseError(
    'CREDENTIALS',
    `Signing in with the ${connection.label} service connection "${connection.id}" given in ${connection.inputName} failed: ${detail}. ${fix[connection.scheme]}`,
    { cause: err },
  );
}
