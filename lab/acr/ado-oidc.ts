import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwt, send } from './wire';

// Azure DevOps's OIDC token endpoint (SYSTEM_OIDCREQUESTURI) for workload identity federation: a
// POST with the job's System.AccessToken and ?serviceConnectionId= answers {oidcToken}, which
// Entra ID (entra.ts) takes as the client assertion of an app that trusts that service connection.

export interface OidcCounts {
  /** POST /oidc (Azure DevOps OIDC token for workload identity federation) */
  oidc: number;
}

export interface AdoOidcEndpoint {
  /** The System.AccessToken the endpoint honours. */
  readonly systemAccessToken: string;
  /** The service connection a token was issued for, if this endpoint issued it. */
  serviceConnectionOf(token: string): string | undefined;
  /** True when the request was the OIDC endpoint's to answer (and is answered). */
  answer(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
}

export const OIDC_PATH = '/oidc';

export function adoOidcEndpoint(counts: OidcCounts): AdoOidcEndpoint {
  const systemAccessToken = `sat-${randomBytes(16).toString('hex')}`;
  const tokens = new Map<string, { serviceConnection: string }>();
  return {
    systemAccessToken,
    serviceConnectionOf: (token) => tokens.get(token)?.serviceConnection,
    answer: (req, res, url) => {
      if (req.method !== 'POST' || url.pathname !== OIDC_PATH) return false;
      counts.oidc++;
      const serviceConnection = url.searchParams.get('serviceConnectionId') ?? '';
      if (req.headers.authorization !== `Bearer ${systemAccessToken}`) {
        send(res, 401, { message: 'TF400813: The user is not authorized to access this resource.' });
        return true;
      }
      const token = jwt({
        iss: 'https://vstoken.dev.azure.com/digest-release',
        sub: `sc://digest-release/release/${serviceConnection}`,
        aud: 'api://AzureADTokenExchange',
      });
      tokens.set(token, { serviceConnection });
      send(res, 200, { oidcToken: token });
      return true;
    },
  };
}
