import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { send } from './wire';

// Managed identity: the App Service identity endpoint (ManagedServiceIdentity connections).
//
// @azure/identity 4.13.1 hands ManagedIdentityCredential to MSAL (msal-node 5), which picks its
// source from the environment: Service Fabric (IDENTITY_ENDPOINT, IDENTITY_HEADER and
// IDENTITY_SERVER_THUMBPRINT), App Service (IDENTITY_ENDPOINT and IDENTITY_HEADER), Azure Machine
// Learning (MSI_ENDPOINT and MSI_SECRET), Cloud Shell (MSI_ENDPOINT), Azure Arc (IDENTITY_ENDPOINT
// and IMDS_ENDPOINT, whose challenge needs a key file under /var/opt/azcmagent/tokens), else IMDS at
// 169.254.169.254; AKS workload identity (AZURE_FEDERATED_TOKEN_FILE) is @azure/identity's own.
// The App Service source is the one a local endpoint plays faithfully: a GET to IDENTITY_ENDPOINT
// with the secret header X-IDENTITY-HEADER, ?api-version=2019-08-01&resource=<audience>, and
// client_id= for a user-assigned identity. Its answer carries expires_on in epoch seconds.
//
// The tests must never reach IMDS: the host's env() sets IDENTITY_ENDPOINT and IDENTITY_HEADER,
// which MSAL prefers to IMDS, and AZURE_POD_IDENTITY_AUTHORITY_HOST (the IMDS address override)
// points at this front too, whose IMDS path answers 400 and is counted, so a test can assert that
// nothing asked it.

export interface ManagedIdentityCounts {
  /** GET <IDENTITY_ENDPOINT> answered with a token. */
  issued: number;
  /** GET <IDENTITY_ENDPOINT> refused: wrong or missing X-IDENTITY-HEADER, or an identity the host has not. */
  refused: number;
  /** Requests that reached the IMDS path (AZURE_POD_IDENTITY_AUTHORITY_HOST): must stay 0. */
  imds: number;
}

export interface ManagedIdentityHost {
  /** The identity endpoint (IDENTITY_ENDPOINT). */
  readonly endpoint: string;
  /** The secret header value (IDENTITY_HEADER). */
  readonly header: string;
  /** The user-assigned identities attached to the "agent host", by client id. */
  readonly userAssigned: readonly string[];
  readonly counts: ManagedIdentityCounts;
  /** Client ids asked for, in order; undefined for the system-assigned identity. */
  readonly requested: (string | undefined)[];
  /** Every token issued, for tests to check that none appears in output. */
  readonly tokens: string[];
  /** Whether the host has a system-assigned identity (tests switch it off to see a refusal). */
  systemAssigned: boolean;
  /** The environment App Service gives a process: the endpoint, the header, and no way to IMDS. */
  env(overrides?: { readonly header?: string }): Record<string, string>;
  reset(): void;
}

interface ManagedIdentityDeps {
  tenantId(): string;
  host(): string;
  /** Makes a token the front's /oauth2/exchange honours, as it honours Entra ID's. */
  issueEntraToken(aud: string, tid: string, subject: string, expiresIn: number): string;
}

const MANAGED_IDENTITY_PATH = '/msi/token';
const IMDS_PATH = '/metadata/identity/oauth2/token';

export function managedIdentityEndpoint(deps: ManagedIdentityDeps): {
  readonly host: ManagedIdentityHost;
  answer(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
} {
  const header = `mi-${randomBytes(16).toString('hex')}`;
  const systemPrincipal = randomUUID();
  const counts: ManagedIdentityCounts = { issued: 0, refused: 0, imds: 0 };
  const host: ManagedIdentityHost = {
    get endpoint() {
      return `https://${deps.host()}${MANAGED_IDENTITY_PATH}`;
    },
    header,
    userAssigned: ['44444444-5555-4666-8777-888888888888'],
    counts,
    requested: [],
    tokens: [],
    systemAssigned: true,
    env: (overrides = {}) => ({
      IDENTITY_ENDPOINT: host.endpoint,
      IDENTITY_HEADER: overrides.header ?? header,
      AZURE_POD_IDENTITY_AUTHORITY_HOST: `https://${deps.host()}`,
    }),
    reset: () => {
      Object.assign(counts, { issued: 0, refused: 0, imds: 0 });
      host.requested.length = 0;
    },
  };
  // App Service's error shape: statusCode, message, correlationId (MSAL reads `message`).
  const refuse = (res: ServerResponse, status: number, message: string): void => {
    counts.refused++;
    send(res, status, { statusCode: status, message, correlationId: randomUUID() });
  };
  return {
    host,
    answer: (req, res, url) => {
      if (url.pathname === IMDS_PATH) {
        counts.imds++;
        send(res, 400, { error: 'invalid_request', error_description: 'this test front is not IMDS' });
        return true;
      }
      if (url.pathname !== MANAGED_IDENTITY_PATH) return false;
      if (req.method !== 'GET') {
        refuse(res, 405, 'The requested resource does not support this HTTP method.');
        return true;
      }
      if (req.headers['x-identity-header'] !== header) {
        refuse(res, 401, 'The X-IDENTITY-HEADER header is missing or wrong.');
        return true;
      }
      const resource = url.searchParams.get('resource') ?? '';
      if (url.searchParams.get('api-version') !== '2019-08-01' || resource === '') {
        refuse(res, 400, 'api-version 2019-08-01 and resource are required.');
        return true;
      }
      const clientId = url.searchParams.get('client_id') ?? undefined;
      host.requested.push(clientId);
      if (
        url.searchParams.has('mi_res_id') ||
        url.searchParams.has('object_id') ||
        url.searchParams.has('principal_id')
      ) {
        refuse(res, 400, 'Unable to load the proper Managed Identity.');
        return true;
      }
      if (clientId === undefined ? !host.systemAssigned : !host.userAssigned.includes(clientId)) {
        refuse(res, 400, 'Unable to load the proper Managed Identity.');
        return true;
      }
      const aud = resource.replace(/\/+$/, '');
      const expiresIn = 86_399;
      const token = deps.issueEntraToken(aud, deps.tenantId(), clientId ?? systemPrincipal, expiresIn);
      host.tokens.push(token);
      counts.issued++;
      send(res, 200, {
        access_token: token,
        expires_on: String(Math.floor(Date.now() / 1000) + expiresIn),
        resource,
        token_type: 'Bearer',
        client_id: clientId ?? systemPrincipal,
      });
      return true;
    },
  };
}
