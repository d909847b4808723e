import { X509Certificate, createPublicKey, constants as cryptoConstants, randomUUID, verify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt, jwt, send } from './wire';

// Microsoft Entra ID as the real @azure/identity code meets it: the OpenID metadata of a tenant and
// its v2.0 token endpoint, for client credentials with a secret, a certificate (a signed client
// assertion) or a federated credential (an Azure DevOps OIDC token, see ado-oidc.ts). Errors carry
// Entra ID's AADSTS codes. The tokens it issues are what ACR's /oauth2/exchange (signin.ts) and the
// ARM front (../arm-front.ts) accept.

export interface EntraApp {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  /** PEM of the certificate registered for the app (its public key checks client assertions). */
  readonly certificate?: string;
  /** A service connection id whose Azure DevOps OIDC tokens the app trusts (a federated credential). */
  readonly federatedServiceConnection?: string;
}

export interface EntraCounts {
  /** POST /<tenant>/oauth2/v2.0/token */
  entraToken: number;
  /** GET /<tenant>/v2.0/.well-known/openid-configuration */
  openIdConfiguration: number;
}

/** What an issued token was issued for, and until when (epoch milliseconds). */
export interface EntraClaims {
  readonly aud: string;
  readonly tid: string;
  readonly expiresAt: number;
}

export interface EntraDeps {
  /** The front's login server, which the tokens it issues name as their issuer. */
  host(): string;
  readonly counts: EntraCounts;
  /** The service connection an Azure DevOps OIDC token was issued for, if the front issued it. */
  federatedServiceConnection(oidcToken: string): string | undefined;
}

export interface EntraAuthority {
  addApp(app: EntraApp): void;
  /** The tenant of the first app, which the agent host's managed identity belongs to. */
  firstTenant(): string | undefined;
  /** A token this authority issued, expired or not. */
  claims(token: string): EntraClaims | undefined;
  /** A token as Entra ID issues it to a managed identity (issuer sts.windows.net), honoured as any other. */
  issueManagedIdentityToken(aud: string, tid: string, subject: string, expiresIn: number): string;
  /** True when the request was Entra ID's to answer (and is answered). */
  answer(req: IncomingMessage, res: ServerResponse, url: URL, form: URLSearchParams): boolean;
}

export function entraAuthority(deps: EntraDeps): EntraAuthority {
  const apps: EntraApp[] = [];
  const tokens = new Map<string, EntraClaims>();
  const { counts } = deps;

  const entraError = (res: ServerResponse, status: number, error: string, code: number, description: string): void =>
    send(res, status, {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${randomUUID()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
    });

  /** The metadata names the authority as the client addressed it (Host), as Entra ID's own names itself: MSAL checks the issuer against the authority. */
  const openIdConfiguration = (req: IncomingMessage, res: ServerResponse, tenant: string): void => {
    counts.openIdConfiguration++;
    if (!apps.some((app) => app.tenantId === tenant)) {
      entraError(
        res,
        400,
        'invalid_tenant',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
      return;
    }
    const authority = req.headers.host ?? deps.host();
    const base = `https://${authority}/${tenant}`;
    send(res, 200, {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      tenant_region_scope: null,
      cloud_instance_name: 'digest-release.test',
      cloud_graph_host_name: 'graph.digest-release.test',
      msgraph_host: 'graph.digest-release.test',
    });
  };

  const assertionValid = (app: EntraApp, assertion: string): boolean => {
    const decoded = decodeJwt(assertion);
    if (!decoded) return false;
    if (app.certificate) {
      const cert = new X509Certificate(app.certificate);
      const key = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
      const alg = decoded.header.alg;
      const ok =
        alg === 'PS256'
          ? verify(
              'sha256',
              decoded.signed,
              { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
              decoded.signature,
            )
          : alg === 'RS256' && verify('sha256', decoded.signed, key, decoded.signature);
      const exp = decoded.payload.exp;
      if (
        ok &&
        decoded.payload.iss === app.clientId &&
        decoded.payload.sub === app.clientId &&
        typeof exp === 'number' &&
        exp * 1000 > Date.now()
      )
        return true;
    }
    if (app.federatedServiceConnection) {
      const serviceConnection = deps.federatedServiceConnection(assertion);
      if (serviceConnection !== undefined && serviceConnection === app.federatedServiceConnection) return true;
    }
    return false;
  };

  const token = (res: ServerResponse, tenant: string, form: URLSearchParams): void => {
    counts.entraToken++;
    const clientId = form.get('client_id') ?? '';
    if (!apps.some((app) => app.tenantId === tenant)) {
      entraError(res, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
      return;
    }
    const app = apps.find((candidate) => candidate.tenantId === tenant && candidate.clientId === clientId);
    if (!app) {
      entraError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
      );
      return;
    }
    if (form.get('grant_type') !== 'client_credentials') {
      entraError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      return;
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    const ok =
      secret !== null
        ? app.clientSecret !== undefined && secret === app.clientSecret
        : assertion !== null && assertionValid(app, assertion);
    if (!ok) {
      if (secret !== null)
        entraError(
          res,
          401,
          'invalid_client',
          7000215,
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
        );
      else entraError(res, 401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
      return;
    }
    const scope = form.get('scope') ?? '';
    const aud = scope.replace(/\/\.default$/, '').replace(/\/+$/, '');
    const expiresIn = 3599;
    const issued = jwt({
      aud,
      iss: `https://${deps.host()}/${tenant}/`,
      tid: tenant,
      appid: clientId,
      exp: Math.floor(Date.now() / 1000) + expiresIn,
    });
    tokens.set(issued, { aud, tid: tenant, expiresAt: Date.now() + expiresIn * 1000 });
    send(res, 200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: issued });
  };

  return {
    addApp: (app) => {
      apps.push(app);
    },
    firstTenant: () => apps[0]?.tenantId,
    claims: (issued) => tokens.get(issued),
    issueManagedIdentityToken: (aud, tid, subject, expiresIn) => {
      const issued = jwt({
        aud,
        iss: `https://sts.windows.net/${tid}/`,
        tid,
        oid: subject,
        sub: subject,
        idtyp: 'app',
        exp: Math.floor(Date.now() / 1000) + expiresIn,
      });
      tokens.set(issued, { aud, tid, expiresAt: Date.now() + expiresIn * 1000 });
      return issued;
    },
    answer: (req, res, url, form) => {
      const method = req.method ?? 'GET';
      const configuration =
        method === 'GET' ? /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname) : null;
      if (configuration) {
        openIdConfiguration(req, res, configuration[1]!);
        return true;
      }
      const tokenPath = method === 'POST' ? /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname) : null;
      if (tokenPath) {
        token(res, tokenPath[1]!, form);
        return true;
      }
      return false;
    },
  };
}
