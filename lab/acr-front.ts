import { X509Certificate, createPublicKey, constants as cryptoConstants, randomBytes, randomUUID, verify } from 'node:crypto';
import { createHash } from 'node:crypto'; // the referrers API block at the end of this file
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Server, createServer } from 'node:https';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startRegistry } from './registry';
import { TestCertificates } from './tls';

// A stand-in for Azure Container Registry and its Microsoft Entra ID sign-in, written from the
// recorded traffic in shared/acr-wire: an HTTPS server before a real distribution registry. The
// OCI API passes through to the registry (which holds every byte); the front adds what only ACR
// does: its 401 challenge, /oauth2/exchange and /oauth2/token, /acr/v1 tag and manifest properties,
// and refusing writes and deletes on what is locked, with ACR's 405 REGISTRY_DISALLOWED_OPERATION.
// It also plays the Entra ID authority (OpenID metadata and the v2.0 token endpoint) and Azure
// DevOps's OIDC endpoint, so the real @azure/identity code signs in against it. It keeps only lock
// state and the tokens it issued, and counts sign-in requests for tests to assert on.

export interface EntraApp {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  /** PEM of the certificate registered for the app (its public key checks client assertions). */
  readonly certificate?: string;
  /** A service connection id whose Azure DevOps OIDC tokens the app trusts (a federated credential). */
  readonly federatedServiceConnection?: string;
}

export interface AcrFrontOptions {
  readonly upstream: string;
  /** The storage of the registry behind (its filesystem rootdirectory), which ACR's manifest listing is read from. */
  readonly upstreamStorage: string;
  readonly certs: TestCertificates;
  /** The ACR admin user (Basic at the token realm), which is how skopeo signs in in the tests. */
  readonly admin: { readonly username: string; readonly password: string };
  /** The Resource Manager audience the exchange accepts Entra ID tokens for. */
  readonly resourceManager?: string;
  /**
   * False plays a registry with azureADAuthenticationAsArmPolicy disabled: the exchange then takes
   * only tokens for ACR's own audience, as ACR does.
   */
  readonly acceptResourceManagerTokens?: boolean;
  /**
   * The name clients address the front by (its login server is `<name>:<port>`), for a name only
   * the test proxy resolves; 127.0.0.1 unless given. Challenges and OpenID metadata name it.
   */
  readonly name?: string;
  /**
   * The login server (`host:port`) clients reach the front at when something stands before it (the
   * fault proxy of lab/proxy.ts): its challenges and token checks name that address.
   */
  readonly address?: () => string;
}

/** The audience of Entra ID tokens issued for Azure Container Registry itself. */
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

export interface FrontCounts {
  /** POST /oauth2/exchange */
  exchange: number;
  /** POST or GET /oauth2/token */
  acrToken: number;
  /** POST /<tenant>/oauth2/v2.0/token */
  entraToken: number;
  /** GET /<tenant>/v2.0/.well-known/openid-configuration */
  openIdConfiguration: number;
  /** POST /oidc (Azure DevOps OIDC token for workload identity federation) */
  oidc: number;
}

export interface Attributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export interface RunningAcrFront {
  readonly host: string;
  readonly url: string;
  /** Where the front itself listens, when clients reach it through something else (options.address). */
  readonly directUrl: string;
  /** For AZURE_AUTHORITY_HOST or a connection's environmentAuthorityUrl. */
  readonly authorityHost: string;
  /** For SYSTEM_OIDCREQUESTURI. */
  readonly oidcRequestUri: string;
  /** The System.AccessToken the OIDC endpoint honours. */
  readonly systemAccessToken: string;
  readonly resourceManager: string;
  readonly counts: FrontCounts;
  addApp(app: EntraApp): void;
  /** The audience and tenant of an Entra ID token this front issued and that has not expired (for the ARM front). */
  entraTokenClaims(token: string): { readonly aud: string; readonly tid: string } | undefined;
  resetCounts(): void;
  tagAttributes(repository: string, tag: string): Attributes | undefined;
  manifestAttributes(repository: string, digest: string): Attributes | undefined;
  /**
   * Plays another writer (a policy, a second pipeline) that puts a manifest's attributes back right
   * after every PATCH: the PATCH is answered as ACR answers it, a read after it finds the old values.
   * Returns what stops it.
   */
  revertPatches(repository: string, digest: string): () => void;
  close(): Promise<void>;
  /** What the referrers API was asked (see referrersApi at the end of this file). */
  readonly referrerCounts: ReferrerCounts;
  /** The managed identity endpoint of the agent's host (see managedIdentityEndpoint at the end of this file). */
  readonly managedIdentity: ManagedIdentityHost;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');
const DISALLOWED = {
  errors: [
    {
      code: 'REGISTRY_DISALLOWED_OPERATION',
      message:
        'The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation',
      detail: {},
    },
  ],
};

interface AccessGrant {
  readonly grants: Map<string, Set<string>>;
  readonly expiresAt: number;
}

interface TagState {
  attributes: Attributes;
  digest: string;
  readonly createdTime: string;
  lastUpdateTime: string;
}

interface ManifestState {
  attributes: Attributes;
  readonly createdTime: string;
  lastUpdateTime: string;
}

const defaults = (): Attributes => ({ deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true });

function jwt(payload: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.${randomBytes(32).toString('base64url')}`;
}

function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signed: Buffer; signature: Buffer } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) return undefined;
    return { header: { ...header }, payload: { ...payload }, signed: Buffer.from(`${parts[0]}.${parts[1]}`), signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    return undefined;
  }
}

function parseScopes(values: string[]): Map<string, Set<string>> {
  const grants = new Map<string, Set<string>>();
  for (const value of values) {
    for (const scope of value.split(' ')) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last <= first) continue;
      const resource = `${scope.slice(0, first)}:${scope.slice(first + 1, last)}`;
      const set = grants.get(resource) ?? new Set<string>();
      for (const action of scope.slice(last + 1).split(',')) if (action !== '') set.add(action);
      grants.set(resource, set);
    }
  }
  return grants;
}

export async function startAcrFront(options: AcrFrontOptions): Promise<RunningAcrFront> {
  const counts: FrontCounts = { exchange: 0, acrToken: 0, entraToken: 0, openIdConfiguration: 0, oidc: 0 };
  const apps: EntraApp[] = [];
  const entraTokens = new Map<string, { aud: string; tid: string; expiresAt: number }>();
  const oidcTokens = new Map<string, { serviceConnection: string }>();
  const refreshTokens = new Map<string, { expiresAt: number }>();
  const accessTokens = new Map<string, AccessGrant>();
  const tags = new Map<string, TagState>();
  const manifests = new Map<string, ManifestState>();
  const reverted = new Set<string>();
  const systemAccessToken = `sat-${randomBytes(16).toString('hex')}`;
  const resourceManager = (options.resourceManager ?? 'https://management.azure.com').replace(/\/+$/, '');
  let host = '';

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
      ...acrHeaders(),
      ...headers,
    });
    res.end(text);
  };
  const acrHeaders = (): Record<string, string> => ({
    'Docker-Distribution-Api-Version': 'registry/2.0',
    Server: 'openresty',
    'X-Ms-Correlation-Request-Id': randomUUID(),
    'Access-Control-Expose-Headers': 'Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id',
  });
  const entraError = (res: ServerResponse, status: number, error: string, code: number, description: string): void =>
    send(res, status, { error, error_description: `AADSTS${code}: ${description} Trace ID: ${randomUUID()}`, error_codes: [code], timestamp: new Date().toISOString() });

  /** 401 with ACR's challenge for a resource and actions, as the recordings show it. */
  const challenge = (res: ServerResponse, resource: { type: string; name: string } | undefined, actions: string[], insufficient: boolean): void => {
    let header = `Bearer realm="https://${host}/oauth2/token",service="${host}"`;
    if (resource) header += `,scope="${resource.type}:${resource.name}:${actions.join(',')}"`;
    if (insufficient) header += ',error="insufficient_scope"';
    const detail = resource ? actions.map((action) => ({ Type: resource.type, Name: resource.name, Action: action })) : [];
    send(
      res,
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization for more information.', ...(resource ? { detail } : {}) }] },
      { 'WWW-Authenticate': header },
    );
  };

  /** True when the request carries a token for all of `actions` on the repository; else answers 401. */
  const authorized = (req: IncomingMessage, res: ServerResponse, repository: string | undefined, actions: string[]): boolean => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const grant = match ? accessTokens.get(match[1]!) : undefined;
    const resource = repository === undefined ? undefined : { type: 'repository', name: repository };
    if (!grant || grant.expiresAt < Date.now()) {
      challenge(res, resource, actions, false);
      return false;
    }
    if (repository === undefined) return true;
    const held = grant.grants.get(`repository:${repository}`);
    if (!actions.every((action) => held?.has(action) || held?.has('*'))) {
      challenge(res, resource, actions, true);
      return false;
    }
    return true;
  };

  const upstream = async (method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Response> =>
    fetch(`${options.upstream}${path}`, { method, headers, redirect: 'manual', ...(body && body.length > 0 ? { body: new Uint8Array(body) } : {}) });

  const relay: Relay = async (req, res, body, after) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'authorization', 'connection', 'transfer-encoding'].includes(name)) headers[name] = value;
    }
    const method = req.method ?? 'GET';
    const answer = await upstream(method, req.url ?? '/', headers, method === 'GET' || method === 'HEAD' ? undefined : body);
    const out = Buffer.from(await answer.arrayBuffer());
    const outHeaders: Record<string, string> = { ...acrHeaders() };
    answer.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding', 'keep-alive'].includes(name)) outHeaders[name] = value;
    });
    outHeaders['content-length'] = method === 'HEAD' ? (answer.headers.get('content-length') ?? '0') : String(out.length);
    if (after) Object.assign(outHeaders, await after(answer));
    res.writeHead(answer.status, outHeaders);
    res.end(method === 'HEAD' ? undefined : out);
  };

  const now = (): string => new Date().toISOString();
  const tagKey = (repository: string, tag: string): string => `${repository}\n${tag}`;

  const manifestHead = async (repository: string, reference: string): Promise<{ digest: string; size: number; mediaType: string } | undefined> => {
    const answer = await upstream('HEAD', `/v2/${repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    const digest = answer.headers.get('docker-content-digest');
    if (answer.status !== 200 || !digest) return undefined;
    return { digest, size: Number(answer.headers.get('content-length') ?? '0'), mediaType: answer.headers.get('content-type') ?? '' };
  };

  const repositoryExists = async (repository: string): Promise<boolean> => {
    const answer = await upstream('GET', `/v2/${repository}/tags/list`, {});
    await answer.body?.cancel();
    return answer.status === 200;
  };

  const tagState = (repository: string, tag: string, digest: string): TagState => {
    const key = tagKey(repository, tag);
    let state = tags.get(key);
    if (!state || (state.digest !== digest && state.attributes.writeEnabled)) {
      state = { attributes: state?.attributes ?? defaults(), digest, createdTime: state?.createdTime ?? now(), lastUpdateTime: now() };
      tags.set(key, state);
    }
    return state;
  };
  const manifestState = (repository: string, digest: string): ManifestState => {
    const key = tagKey(repository, digest);
    let state = manifests.get(key);
    if (!state) {
      state = { attributes: defaults(), createdTime: now(), lastUpdateTime: now() };
      manifests.set(key, state);
    }
    return state;
  };
  const applyPatch = (attributes: Attributes, body: Buffer): boolean => {
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
    const patch: Record<string, unknown> = { ...doc };
    for (const key of ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const) {
      const value = patch[key];
      if (typeof value === 'boolean') attributes[key] = value;
    }
    return true;
  };
  /** Locked against delete: a locked manifest, or a locked tag that points at it. */
  const manifestDeleteLocked = (repository: string, digest: string): boolean => {
    const manifest = manifests.get(tagKey(repository, digest));
    if (manifest && (!manifest.attributes.writeEnabled || !manifest.attributes.deleteEnabled)) return true;
    for (const [key, tag] of tags) {
      if (key.startsWith(`${repository}\n`) && tag.digest === digest && (!tag.attributes.writeEnabled || !tag.attributes.deleteEnabled)) return true;
    }
    return false;
  };

  // --- Microsoft Entra ID and Azure DevOps OIDC ---

  /** The metadata names the authority as the client addressed it (Host), as Entra ID's own names itself: MSAL checks the issuer against the authority. */
  const openIdConfiguration = (req: IncomingMessage, res: ServerResponse, tenant: string): void => {
    counts.openIdConfiguration++;
    if (!apps.some((app) => app.tenantId === tenant)) {
      entraError(res, 400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
      return;
    }
    const authority = req.headers.host ?? host;
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
          ? verify('sha256', decoded.signed, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, decoded.signature)
          : alg === 'RS256' && verify('sha256', decoded.signed, key, decoded.signature);
      const exp = decoded.payload.exp;
      if (ok && decoded.payload.iss === app.clientId && decoded.payload.sub === app.clientId && typeof exp === 'number' && exp * 1000 > Date.now()) return true;
    }
    if (app.federatedServiceConnection) {
      const issued = oidcTokens.get(assertion);
      if (issued && issued.serviceConnection === app.federatedServiceConnection) return true;
    }
    return false;
  };

  const entraToken = (res: ServerResponse, tenant: string, form: URLSearchParams): void => {
    counts.entraToken++;
    const clientId = form.get('client_id') ?? '';
    if (!apps.some((app) => app.tenantId === tenant)) {
      entraError(res, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
      return;
    }
    const app = apps.find((candidate) => candidate.tenantId === tenant && candidate.clientId === clientId);
    if (!app) {
      entraError(res, 400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
      return;
    }
    if (form.get('grant_type') !== 'client_credentials') {
      entraError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      return;
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    const ok = secret !== null ? app.clientSecret !== undefined && secret === app.clientSecret : assertion !== null && assertionValid(app, assertion);
    if (!ok) {
      if (secret !== null) entraError(res, 401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
      else entraError(res, 401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
      return;
    }
    const scope = form.get('scope') ?? '';
    const aud = scope.replace(/\/\.default$/, '').replace(/\/+$/, '');
    const expiresIn = 3599;
    const token = jwt({ aud, iss: `https://${host}/${tenant}/`, tid: tenant, appid: clientId, exp: Math.floor(Date.now() / 1000) + expiresIn });
    entraTokens.set(token, { aud, tid: tenant, expiresAt: Date.now() + expiresIn * 1000 });
    send(res, 200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token });
  };

  const oidc = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    counts.oidc++;
    const serviceConnection = url.searchParams.get('serviceConnectionId') ?? '';
    if (req.headers.authorization !== `Bearer ${systemAccessToken}`) {
      send(res, 401, { message: 'TF400813: The user is not authorized to access this resource.' });
      return;
    }
    const token = jwt({ iss: 'https://vstoken.dev.azure.com/digest-release', sub: `sc://digest-release/release/${serviceConnection}`, aud: 'api://AzureADTokenExchange' });
    oidcTokens.set(token, { serviceConnection });
    send(res, 200, { oidcToken: token });
  };

  // --- ACR sign-in ---

  const exchange = (res: ServerResponse, form: URLSearchParams): void => {
    counts.exchange++;
    const aad = entraTokens.get(form.get('access_token') ?? '');
    const audiences = [ACR_AUDIENCE, ...(options.acceptResourceManagerTokens === false ? [] : [resourceManager])];
    if (form.get('grant_type') !== 'access_token' || form.get('service') !== host || !aad || aad.expiresAt < Date.now() || !audiences.includes(aad.aud)) {
      send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization for more information.' }] });
      return;
    }
    const lifetime = 11_700;
    const token = jwt({ iss: 'Azure Container Registry', aud: host, grant_type: 'refresh_token', version: '1.0', exp: Math.floor(Date.now() / 1000) + lifetime, tenant: aad.tid });
    refreshTokens.set(token, { expiresAt: Date.now() + lifetime * 1000 });
    send(res, 200, { refresh_token: token });
  };

  const issueAccessToken = (res: ServerResponse, scopes: string[]): void => {
    const lifetime = 4_500;
    const grants = parseScopes(scopes);
    const access = [...grants].map(([resource, actions]) => ({ Type: resource.split(':')[0], Name: resource.slice(resource.indexOf(':') + 1), Actions: [...actions] }));
    const token = jwt({ iss: 'Azure Container Registry', aud: host, version: '2.0', access, grant_type: 'access_token', exp: Math.floor(Date.now() / 1000) + lifetime });
    accessTokens.set(token, { grants, expiresAt: Date.now() + lifetime * 1000 });
    send(res, 200, { access_token: token });
  };

  const acrToken = (req: IncomingMessage, res: ServerResponse, url: URL, form: URLSearchParams): void => {
    counts.acrToken++;
    const unauthorized = (): void => send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required, visit https://aka.ms/acr/authorization for more information.' }] });
    if (req.method === 'GET') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const expected = Buffer.from(`${options.admin.username}:${options.admin.password}`).toString('base64');
      if (!basic || basic[1] !== expected || url.searchParams.get('service') !== host) return unauthorized();
      return issueAccessToken(res, url.searchParams.getAll('scope'));
    }
    const refresh = refreshTokens.get(form.get('refresh_token') ?? '');
    if (form.get('grant_type') !== 'refresh_token' || form.get('service') !== host || !refresh || refresh.expiresAt < Date.now()) return unauthorized();
    issueAccessToken(res, form.getAll('scope'));
  };

  // --- /acr/v1 properties ---

  const properties = async (req: IncomingMessage, res: ServerResponse, rawPath: string, body: Buffer): Promise<void> => {
    const method = req.method ?? 'GET';
    if (rawPath.endsWith('/_manifests')) return manifestListing(req, res, decodeURIComponent(rawPath.slice(0, -'/_manifests'.length)));
    const kind = rawPath.includes('/_tags/') ? '_tags' : rawPath.includes('/_manifests/') ? '_manifests' : undefined;
    if (!kind) return send(res, 404, '404 page not found\n');
    const at = rawPath.lastIndexOf(`/${kind}/`);
    const repository = decodeURIComponent(rawPath.slice(0, at));
    const reference = decodeURIComponent(rawPath.slice(at + kind.length + 2));
    if (reference === '' || reference.includes('/') || (kind === '_manifests' && !DIGEST.test(reference))) return send(res, 404, '404 page not found\n');
    const action = method === 'GET' ? 'metadata_read' : method === 'PATCH' ? 'metadata_write' : method === 'DELETE' ? 'delete' : undefined;
    if (!action) return send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] });
    if (!authorized(req, res, repository, [action])) return;

    const head = await manifestHead(repository, reference);
    if (!head) {
      if (!(await repositoryExists(repository))) return send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }] });
      return send(
        res,
        404,
        kind === '_tags' ? { errors: [{ code: 'TAG_UNKNOWN', message: 'the specified tag does not exist' }] } : { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'the specified manifest does not exist' }] },
      );
    }
    if (kind === '_tags') {
      const state = tagState(repository, reference, head.digest);
      if (method === 'DELETE') {
        if (!state.attributes.writeEnabled || !state.attributes.deleteEnabled) return send(res, 405, DISALLOWED);
        const answer = await upstream('DELETE', `/v2/${repository}/manifests/${reference}`, {});
        await answer.body?.cancel();
        tags.delete(tagKey(repository, reference));
        return send(res, answer.ok ? 202 : answer.status, answer.ok ? '' : 'the registry behind the front cannot delete a tag alone\n', { 'X-Ms-Int-Docker-Content-Digest': head.digest });
      }
      // A PATCH changes the attributes only: lastUpdateTime stays (js-sets_tag_properties.json).
      if (method === 'PATCH' && !applyPatch(state.attributes, body)) return send(res, 400, { errors: [{ code: 'BAD_REQUEST', message: 'the body is not a JSON object' }] });
      return send(res, 200, {
        registry: host,
        imageName: repository,
        tag: { name: reference, digest: state.digest, createdTime: state.createdTime, lastUpdateTime: state.lastUpdateTime, signed: false, changeableAttributes: { ...state.attributes } },
      });
    }
    const state = manifestState(repository, reference);
    if (method === 'DELETE') return send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'Delete a manifest at /v2/<name>/manifests/<digest>.' }] });
    const before = { ...state.attributes };
    // A PATCH changes the attributes only: lastUpdateTime stays (js-sets_manifest_properties.json).
    if (method === 'PATCH' && !applyPatch(state.attributes, body)) return send(res, 400, { errors: [{ code: 'BAD_REQUEST', message: 'the body is not a JSON object' }] });
    if (method === 'PATCH' && reverted.has(tagKey(repository, reference))) res.once('finish', () => Object.assign(state.attributes, before));
    const platform = storedFacts(reference);
    const tagNames = [...tags].filter(([key, tag]) => key.startsWith(`${repository}\n`) && tag.digest === reference).map(([key]) => key.slice(repository.length + 1));
    return send(res, 200, {
      registry: host,
      imageName: repository,
      manifest: {
        digest: reference,
        imageSize: head.size,
        createdTime: state.createdTime,
        lastUpdateTime: state.lastUpdateTime,
        ...(platform?.architecture ? { architecture: platform.architecture, os: platform.os } : {}),
        mediaType: head.mediaType,
        ...(tagNames.length > 0 ? { tags: tagNames } : {}),
        changeableAttributes: { ...state.attributes },
      },
    });
  };

  const referrers = referrersApi({ upstream, send, repositoryExists });
  // --- /acr/v1/<repository>/_manifests: every manifest, tagged or not, with its attributes ---
  //
  // Shape from Azure/azure-sdk-for-js recording_should_list_registry_manifests.js (test/fixtures/acr-wire):
  // {registry, imageName, manifests: [{digest, imageSize, createdTime, lastUpdateTime, mediaType,
  // [tags], changeableAttributes}]}, ordered by digest, metadata_read; pages follow ?n= and ?last=
  // with a Link to the next, as the tag listing's recording shows them. The registry behind has no
  // such listing, so the manifests are read from its storage (a revision link per manifest, a
  // current link per tag), which is what it serves. The front's own referrers indexes (sha256-<hex>
  // tags, see the end of this file) are not ACR's and are left out, as in the tag list.
  const blobData = (digest: string): string => join(options.upstreamStorage, 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');
  /** What ACR tells of a manifest beside its digest: size, media type, and the platform of a single image. */
  const storedFacts = (digest: string): { size: number; mediaType: string; architecture?: string; os?: string } | undefined => {
    const data = blobData(digest);
    if (!existsSync(data)) return undefined;
    const doc = parseJsonRecord(readFileSync(data));
    const mediaType = typeof doc?.mediaType === 'string' ? doc.mediaType : Array.isArray(doc?.manifests) ? OCI_INDEX_MEDIA_TYPE : 'application/vnd.oci.image.manifest.v1+json';
    const configDigest = jsonRecord(doc?.config)?.digest;
    const config = typeof configDigest === 'string' && DIGEST.test(configDigest) && existsSync(blobData(configDigest)) ? parseJsonRecord(readFileSync(blobData(configDigest))) : undefined;
    const platform = typeof config?.architecture === 'string' && typeof config.os === 'string' ? { architecture: config.architecture, os: config.os } : {};
    return { size: statSync(data).size, mediaType, ...platform };
  };
  const storedManifests = (repository: string): { digest: string; tags: string[] }[] => {
    const repo = join(options.upstreamStorage, 'docker', 'registry', 'v2', 'repositories', repository, '_manifests');
    const revisions = join(repo, 'revisions', 'sha256');
    if (!existsSync(revisions)) return [];
    const tagsOf = new Map<string, string[]>();
    const hidden = new Set<string>();
    const tagDir = join(repo, 'tags');
    for (const tag of existsSync(tagDir) ? readdirSync(tagDir) : []) {
      const link = join(tagDir, tag, 'current', 'link');
      if (!existsSync(link)) continue;
      const digest = readFileSync(link, 'utf8').trim();
      if (TAG_SCHEMA.test(tag)) hidden.add(digest);
      else tagsOf.set(digest, [...(tagsOf.get(digest) ?? []), tag]);
    }
    const out: { digest: string; tags: string[] }[] = [];
    for (const hex of readdirSync(revisions)) {
      const digest = `sha256:${hex}`;
      if (!existsSync(join(revisions, hex, 'link')) || hidden.has(digest) || referrers.ownIndexes.has(`${repository}\n${digest}`)) continue;
      out.push({ digest, tags: (tagsOf.get(digest) ?? []).sort() });
    }
    return out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  };

  const manifestListing = async (req: IncomingMessage, res: ServerResponse, repository: string): Promise<void> => {
    if ((req.method ?? 'GET') !== 'GET') return send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] });
    if (!authorized(req, res, repository, ['metadata_read'])) return;
    if (!(await repositoryExists(repository))) return send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }] });
    const url = new URL(req.url ?? '/', `https://${host}`);
    const n = Math.max(1, Math.min(1000, Number(url.searchParams.get('n') ?? '100') || 100));
    const last = url.searchParams.get('last') ?? '';
    const all = storedManifests(repository).filter((m) => m.digest > last);
    const page = all.slice(0, n);
    const entries = page.map((m) => {
      const state = manifestState(repository, m.digest);
      const facts = storedFacts(m.digest);
      return {
        digest: m.digest,
        imageSize: facts?.size ?? 0,
        createdTime: state.createdTime,
        lastUpdateTime: state.lastUpdateTime,
        ...(facts?.architecture ? { architecture: facts.architecture, os: facts.os } : {}),
        mediaType: facts?.mediaType ?? '',
        ...(m.tags.length > 0 ? { tags: m.tags } : {}),
        changeableAttributes: { ...state.attributes },
      };
    });
    const more = all.length > n;
    const rawRepository = (req.url ?? '').split('?')[0]!.slice('/acr/v1/'.length, -'/_manifests'.length);
    const link: Record<string, string> = more ? { Link: `</acr/v1/${rawRepository}/_manifests?last=${page[page.length - 1]!.digest}&n=${n}&orderby=>; rel="next"` } : {};
    return send(res, 200, { registry: host, imageName: repository, manifests: entries }, link);
  };


  const managedIdentity = managedIdentityEndpoint({
    tenantId: () => apps[0]?.tenantId ?? '00000000-0000-4000-8000-0000000000aa',
    host: () => host,
    send,
    issueEntraToken: (aud, tid, subject, expiresIn) => {
      const token = jwt({ aud, iss: `https://sts.windows.net/${tid}/`, tid, oid: subject, sub: subject, idtyp: 'app', exp: Math.floor(Date.now() / 1000) + expiresIn });
      entraTokens.set(token, { aud, tid, expiresAt: Date.now() + expiresIn * 1000 });
      return token;
    },
  });

  // --- /v2: pass through, signed and enforced ---

  const registryApi = async (req: IncomingMessage, res: ServerResponse, path: string, body: Buffer): Promise<void> => {
    const method = req.method ?? 'GET';
    if (path === '/v2/' || path === '/v2') {
      if (!authorized(req, res, undefined, [])) return;
      return send(res, 200, {});
    }
    const match = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(path);
    if (!match) return send(res, 404, '404 page not found\n');
    const repository = match[1]!;
    const actions = method === 'GET' || method === 'HEAD' ? ['pull'] : method === 'DELETE' ? ['delete'] : ['pull', 'push'];
    if (!authorized(req, res, repository, actions)) return;
    if (match[2] === 'manifests') {
      const reference = decodeURIComponent(match[3]!);
      if (method === 'PUT' && !DIGEST.test(reference)) {
        const tag = tags.get(tagKey(repository, reference));
        if (tag && !tag.attributes.writeEnabled) return send(res, 405, DISALLOWED);
      }
      if (method === 'DELETE') {
        // go-TestClient_DeleteManifest_wrongDigest.json: a tag is deleted at /acr/v1/<repo>/_tags/<tag>, never here.
        if (!DIGEST.test(reference)) return send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'A manifest can only be deleted by digest.' }] });
        if (manifestDeleteLocked(repository, reference)) return send(res, 405, DISALLOWED);
      }
    }
    if (await referrers.answer(req, res, { repository, kind: match[2]!, rest: match[3]! }, body, relay)) return;
    return relay(req, res, body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', `https://${host}`);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const form = new URLSearchParams(method === 'POST' ? body.toString('utf8') : '');
    let m: RegExpExecArray | null;
    if (managedIdentity.answer(req, res, url)) return;
    if (method === 'GET' && (m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path))) return openIdConfiguration(req, res, m[1]!);
    if (method === 'POST' && (m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path))) return entraToken(res, m[1]!, form);
    if (method === 'POST' && path === '/oidc') return oidc(req, res, url);
    if (method === 'POST' && path === '/oauth2/exchange') return exchange(res, form);
    if ((method === 'POST' || method === 'GET') && path === '/oauth2/token') return acrToken(req, res, url, form);
    const rawPath = (req.url ?? '/').split('?')[0]!;
    if (rawPath.startsWith('/acr/v1/')) return properties(req, res, rawPath.slice('/acr/v1/'.length), body);
    if (path.startsWith('/v2')) return registryApi(req, res, path, body);
    return send(res, 404, '404 page not found\n');
  };

  const server: Server = createServer({ cert: readFileSync(options.certs.serverCert), key: readFileSync(options.certs.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  host = options.address?.() ?? `${options.name ?? '127.0.0.1'}:${port}`;

  return {
    host,
    url: `https://${host}`,
    directUrl: `https://127.0.0.1:${port}`,
    authorityHost: `https://${host}`,
    oidcRequestUri: `https://${host}/oidc`,
    systemAccessToken,
    resourceManager,
    counts,
    addApp: (app) => apps.push(app),
    entraTokenClaims: (token) => {
      const claims = entraTokens.get(token);
      return claims && claims.expiresAt > Date.now() ? { aud: claims.aud, tid: claims.tid } : undefined;
    },
    resetCounts: () => {
      Object.assign(counts, { exchange: 0, acrToken: 0, entraToken: 0, openIdConfiguration: 0, oidc: 0 });
      managedIdentity.host.reset();
    },
    tagAttributes: (repository, tag) => {
      const state = tags.get(tagKey(repository, tag));
      return state ? { ...state.attributes } : undefined;
    },
    manifestAttributes: (repository, digest) => {
      const state = manifests.get(tagKey(repository, digest));
      return state ? { ...state.attributes } : undefined;
    },
    revertPatches: (repository, digest) => {
      reverted.add(tagKey(repository, digest));
      return () => reverted.delete(tagKey(repository, digest));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
    referrerCounts: referrers.counts,
    managedIdentity: managedIdentity.host,
  };
}

/** A real registry with an ACR front before it, an app registration of each kind, and skopeo access. */
export interface AcrGround {
  readonly registry: { readonly host: string; readonly url: string; stop(): void };
  readonly front: RunningAcrFront;
  /** skopeo through the front, signed in as the admin user. */
  readonly access: { readonly certDir: string; readonly creds: string };
  /** skopeo straight to the registry behind the front, bypassing ACR's rules. */
  readonly directAccess: { readonly certDir: string };
  readonly tenantId: string;
  readonly secretApp: { readonly clientId: string; readonly clientSecret: string };
  readonly certificateApp: { readonly clientId: string; readonly pem: string };
  readonly federatedApp: { readonly clientId: string; readonly serviceConnection: string };
}

export async function startAcrGround(
  dir: string,
  certs: TestCertificates,
  options: { readonly resourceManager?: string; readonly acceptResourceManagerTokens?: boolean; readonly name?: string; readonly address?: () => string } = {},
): Promise<AcrGround> {
  const registry = await startRegistry(join(dir, 'registry-acr'), certs);
  const admin = { username: 'acradmin', password: 'Adm1n-pa55/for:skopeo' };
  const front = await startAcrFront({
    upstream: registry.url,
    upstreamStorage: registry.storage,
    certs,
    admin,
    ...(options.resourceManager ? { resourceManager: options.resourceManager } : {}),
    ...(options.acceptResourceManagerTokens === undefined ? {} : { acceptResourceManagerTokens: options.acceptResourceManagerTokens }),
    ...(options.name ? { name: options.name } : {}),
    ...(options.address ? { address: options.address } : {}),
  });
  const tenantId = '72f988bf-0000-4000-8000-00000000a1a1';
  const secretApp = { clientId: '11111111-2222-4333-8444-555555555555', clientSecret: 'Sp-s3cret~value.not_for_logs' };
  const certDir = join(dir, 'acr-app-cert');
  mkdirSync(certDir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=digest-release-spn'], {
    cwd: certDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const certPem = readFileSync(join(certDir, 'cert.pem'), 'utf8');
  const certificateApp = { clientId: '22222222-3333-4444-8555-666666666666', pem: `${readFileSync(join(certDir, 'key.pem'), 'utf8')}${certPem}` };
  const federatedApp = { clientId: '33333333-4444-4555-8666-777777777777', serviceConnection: '5d0c6f0e-2b8a-4e61-9a57-0c3f1d2e4b6a' };
  front.addApp({ tenantId, ...secretApp });
  front.addApp({ tenantId, clientId: certificateApp.clientId, certificate: certPem });
  front.addApp({ tenantId, clientId: federatedApp.clientId, federatedServiceConnection: federatedApp.serviceConnection });
  return {
    registry,
    front,
    access: { certDir: certs.certDir, creds: `${admin.username}:${admin.password}` },
    directAccess: { certDir: certs.certDir },
    tenantId,
    secretApp,
    certificateApp,
    federatedApp,
  };
}

// ===== The OCI referrers API, as ACR serves it (DigestEvidence, issue 8) =====================
//
// ACR answers GET /v2/<repo>/referrers/<digest> with an OCI index of the manifests whose subject is
// <digest>, each described with its artifactType and annotations; ?artifactType= filters, and the
// answer then says OCI-Filters-Applied: artifactType. A manifest PUT that has a subject is answered
// with OCI-Subject: <digest>, so clients do not keep the tag-schema fallback themselves.
//
// Where the index lives: the front keeps no image data, and the registry behind it (distribution)
// has no referrers API. So the front keeps ACR's index in that registry, in the one format
// distribution has for it, the sha256-<hex> tag-schema index, which the front (not the client)
// writes when a manifest with a subject is PUT through it. Every answer is derived from the registry
// behind: each manifest the index lists is read back, must hash to its digest and name the subject,
// and is described from its own bytes; one deleted since is left out. A manifest with a subject
// pushed straight to the registry behind, with a client-kept tag index, is found the same way, as
// ACR finds every manifest with a subject. The sha256-<hex> tags are this front's storage and not
// something ACR shows, so the tag list through the front leaves them out.

export interface ReferrerCounts {
  /** GET /v2/<repo>/referrers/<digest> answered. */
  lists: number;
  /** Manifest PUTs with a subject, indexed and answered with OCI-Subject. */
  subjectPuts: number;
  /** PUTs of a sha256-<hex> tag through the front: a client keeping the tag-schema fallback itself. */
  tagSchemaPuts: number;
}

type Relay = (req: IncomingMessage, res: ServerResponse, body: Buffer, after?: (answer: Response) => Promise<Record<string, string>>) => Promise<void>;

interface ReferrersDeps {
  upstream(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Response>;
  send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
  repositoryExists(repository: string): Promise<boolean>;
}

interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
const TAG_SCHEMA = /^sha256-[a-f0-9]{64}$/;

function jsonRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}

function parseJsonRecord(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    return jsonRecord(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

function subjectDigest(doc: Record<string, unknown>): string | undefined {
  const digest = jsonRecord(doc.subject)?.digest;
  return typeof digest === 'string' && DIGEST.test(digest) ? digest : undefined;
}

/** The descriptor the referrers API gives a manifest, from its own bytes (image-spec: artifactType, else an image's config media type). */
function describeReferrer(doc: Record<string, unknown>, size: number, digest: string, contentType: string): ReferrerDescriptor {
  const configType = jsonRecord(doc.config)?.mediaType;
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : typeof configType === 'string' ? configType : undefined;
  const annotations = jsonRecord(doc.annotations);
  const strings = annotations ? Object.fromEntries(Object.entries(annotations).filter((entry): entry is [string, string] => typeof entry[1] === 'string')) : undefined;
  return {
    mediaType: typeof doc.mediaType === 'string' ? doc.mediaType : contentType.split(';')[0]!.trim(),
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(strings ? { annotations: strings } : {}),
  };
}

function referrersApi(deps: ReferrersDeps): {
  readonly counts: ReferrerCounts;
  /** `<repository>\n<digest>` of every referrers index the front wrote: its storage, not ACR's. */
  readonly ownIndexes: ReadonlySet<string>;
  answer(req: IncomingMessage, res: ServerResponse, target: { repository: string; kind: string; rest: string }, body: Buffer, relay: Relay): Promise<boolean>;
} {
  const counts: ReferrerCounts = { lists: 0, subjectPuts: 0, tagSchemaPuts: 0 };
  const ownIndexes = new Set<string>();
  const chains = new Map<string, Promise<unknown>>();
  /** One index update at a time per subject: each is a read, a change and a write. */
  const serial = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const next = (chains.get(key) ?? Promise.resolve()).then(work, work);
    chains.set(key, next.catch(() => undefined));
    return next;
  };
  const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const indexTag = (subject: string): string => subject.replace(':', '-');

  const readManifest = async (repository: string, reference: string): Promise<{ bytes: Buffer; contentType: string } | undefined> => {
    const answer = await deps.upstream('GET', `/v2/${repository}/manifests/${reference}`, { Accept: `${MANIFEST_ACCEPT}, ${OCI_INDEX_MEDIA_TYPE}` });
    const bytes = Buffer.from(await answer.arrayBuffer());
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw new Error(`the registry behind the front answered ${answer.status} for ${repository}:${reference}`);
    return { bytes, contentType: answer.headers.get('content-type') ?? '' };
  };

  const referrersOf = async (repository: string, subject: string): Promise<ReferrerDescriptor[]> => {
    const index = await readManifest(repository, indexTag(subject));
    const listed = index ? parseJsonRecord(index.bytes)?.manifests : undefined;
    const found: ReferrerDescriptor[] = [];
    for (const entry of Array.isArray(listed) ? listed : []) {
      const digest = jsonRecord(entry)?.digest;
      if (typeof digest !== 'string' || !DIGEST.test(digest) || found.some((d) => d.digest === digest)) continue;
      const manifest = await readManifest(repository, digest);
      if (!manifest) continue; // deleted since it was indexed
      if (sha256(manifest.bytes) !== digest) throw new Error(`the registry behind the front served ${repository}@${digest} with bytes that hash to ${sha256(manifest.bytes)}`);
      const doc = parseJsonRecord(manifest.bytes);
      if (!doc || subjectDigest(doc) !== subject) continue;
      found.push(describeReferrer(doc, manifest.bytes.length, digest, manifest.contentType));
    }
    return found;
  };

  const addToIndex = (repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> =>
    serial(`${repository}\n${subject}`, async () => {
      const tag = indexTag(subject);
      const current = await readManifest(repository, tag);
      const listed = current ? parseJsonRecord(current.bytes)?.manifests : undefined;
      const manifests = (Array.isArray(listed) ? listed : []).filter((entry) => jsonRecord(entry)?.digest !== descriptor.digest);
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [...manifests, descriptor] }));
      ownIndexes.add(`${repository}\n${sha256(bytes)}`);
      const answer = await deps.upstream('PUT', `/v2/${repository}/manifests/${tag}`, { 'Content-Type': OCI_INDEX_MEDIA_TYPE }, bytes);
      await answer.body?.cancel();
      if (answer.status !== 201) throw new Error(`the registry behind the front refused the referrers index ${repository}:${tag} (${answer.status})`);
    });

  const list = async (res: ServerResponse, repository: string, subject: string, query: URLSearchParams): Promise<void> => {
    counts.lists++;
    if (!DIGEST.test(subject)) return deps.send(res, 400, { errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }] });
    if (!(await deps.repositoryExists(repository))) return deps.send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }] });
    const all = await referrersOf(repository, subject);
    const filter = query.get('artifactType');
    const manifests = filter === null ? all : all.filter((d) => d.artifactType === filter);
    deps.send(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests }, { 'Content-Type': OCI_INDEX_MEDIA_TYPE, ...(filter !== null ? { 'OCI-Filters-Applied': 'artifactType' } : {}) });
  };

  const tagList = async (res: ServerResponse, repository: string, search: string): Promise<void> => {
    const answer = await deps.upstream('GET', `/v2/${repository}/tags/list${search}`, {});
    const text = Buffer.from(await answer.arrayBuffer());
    const doc = parseJsonRecord(text);
    const link = answer.headers.get('link');
    const headers: Record<string, string> = link ? { Link: link } : {};
    if (answer.status !== 200 || !doc) return deps.send(res, answer.status, doc ?? text.toString('utf8'), headers);
    const tags = Array.isArray(doc.tags) ? doc.tags.filter((tag) => typeof tag !== 'string' || !TAG_SCHEMA.test(tag)) : doc.tags;
    deps.send(res, 200, { ...doc, tags }, headers);
  };

  return {
    counts,
    ownIndexes,
    /** True when the request was the referrers API's to answer (and is answered). */
    answer: async (req, res, target, body, relay) => {
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'https://front.invalid');
      if (target.kind === 'referrers' && method === 'GET') {
        await list(res, target.repository, decodeURIComponent(target.rest), url.searchParams);
        return true;
      }
      if (target.kind === 'tags' && target.rest === 'list' && method === 'GET') {
        await tagList(res, target.repository, url.search);
        return true;
      }
      if (target.kind !== 'manifests' || method !== 'PUT') return false;
      if (TAG_SCHEMA.test(decodeURIComponent(target.rest))) counts.tagSchemaPuts++;
      const doc = parseJsonRecord(body);
      const subject = doc ? subjectDigest(doc) : undefined;
      if (!doc || subject === undefined) return false;
      await relay(req, res, body, async (answer): Promise<Record<string, string>> => {
        if (answer.status !== 201) return {};
        const digest = answer.headers.get('docker-content-digest') ?? sha256(body);
        await addToIndex(target.repository, subject, describeReferrer(doc, body.length, digest, req.headers['content-type'] ?? ''));
        counts.subjectPuts++;
        return { 'OCI-Subject': subject };
      });
      return true;
    },
  };
}

// ===== Managed identity: the App Service identity endpoint (ManagedServiceIdentity connections) ==
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
// The tests must never reach IMDS: managedIdentityEnv() sets IDENTITY_ENDPOINT and IDENTITY_HEADER,
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
  send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
  /** Makes a token the front's /oauth2/exchange honours, as it honours Entra ID's. */
  issueEntraToken(aud: string, tid: string, subject: string, expiresIn: number): string;
}

const MANAGED_IDENTITY_PATH = '/msi/token';
const IMDS_PATH = '/metadata/identity/oauth2/token';

function managedIdentityEndpoint(deps: ManagedIdentityDeps): {
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
    deps.send(res, status, { statusCode: status, message, correlationId: randomUUID() });
  };
  return {
    host,
    answer: (req, res, url) => {
      if (url.pathname === IMDS_PATH) {
        counts.imds++;
        deps.send(res, 400, { error: 'invalid_request', error_description: 'this test front is not IMDS' });
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
      if (url.searchParams.has('mi_res_id') || url.searchParams.has('object_id') || url.searchParams.has('principal_id')) {
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
      deps.send(res, 200, {
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
