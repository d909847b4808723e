import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCertificates } from '../tls';
import type { OidcCounts } from './ado-oidc';
import { OIDC_PATH, adoOidcEndpoint } from './ado-oidc';
import type { EntraApp, EntraCounts } from './entra';
import { entraAuthority } from './entra';
import type { ManagedIdentityHost } from './managed-identity';
import { managedIdentityEndpoint } from './managed-identity';
import type { Attributes } from './metadata';
import { acrMetadata } from './metadata';
import type { ReferrerCounts } from './referrers';
import { referrersApi } from './referrers';
import type { SignInCounts } from './signin';
import { ACR_AUDIENCE, acrSignIn } from './signin';
import type { Relay } from './wire';
import { acrHeaders, send } from './wire';

// A stand-in for Azure Container Registry and its Microsoft Entra ID sign-in, written from the
// recorded traffic in test/fixtures/acr-wire: an HTTPS server before a real distribution registry.
// The OCI API passes through to the registry (which holds every byte); the front adds what only ACR
// does, one file per service it plays:
//   signin.ts            ACR's 401 challenge, /oauth2/exchange and /oauth2/token
//   metadata.ts          /acr/v1 tag and manifest properties, and refusing writes and deletes on
//                        what is locked, with ACR's 405 REGISTRY_DISALLOWED_OPERATION
//   referrers.ts         the OCI referrers API as ACR serves it
//   entra.ts             the Entra ID authority (OpenID metadata and the v2.0 token endpoint), so
//                        the real @azure/identity code signs in against it
//   ado-oidc.ts          Azure DevOps's OIDC token endpoint (workload identity federation)
//   managed-identity.ts  the agent host's managed identity endpoint
// It keeps only lock state and the tokens it issued, and counts sign-in requests for tests to
// assert on. This file routes requests to them and passes the rest through.

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

/** The sign-in requests the front answered, by endpoint. */
export type FrontCounts = SignInCounts & EntraCounts & OidcCounts;

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
  /** What the referrers API was asked (referrers.ts). */
  readonly referrerCounts: ReferrerCounts;
  /** The managed identity endpoint of the agent's host (managed-identity.ts). */
  readonly managedIdentity: ManagedIdentityHost;
}

export async function startAcrFront(options: AcrFrontOptions): Promise<RunningAcrFront> {
  const counts: FrontCounts = { exchange: 0, acrToken: 0, entraToken: 0, openIdConfiguration: 0, oidc: 0 };
  const resourceManager = (options.resourceManager ?? 'https://management.azure.com').replace(/\/+$/, '');
  let host = '';
  const front = (): string => host;

  const upstream = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
  ): Promise<Response> =>
    fetch(`${options.upstream}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(body && body.length > 0 ? { body: new Uint8Array(body) } : {}),
    });

  const relay: Relay = async (req, res, body, after) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'authorization', 'connection', 'transfer-encoding'].includes(name))
        headers[name] = value;
    }
    const method = req.method ?? 'GET';
    const answer = await upstream(
      method,
      req.url ?? '/',
      headers,
      method === 'GET' || method === 'HEAD' ? undefined : body,
    );
    const out = Buffer.from(await answer.arrayBuffer());
    const outHeaders: Record<string, string> = { ...acrHeaders() };
    answer.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding', 'keep-alive'].includes(name))
        outHeaders[name] = value;
    });
    outHeaders['content-length'] =
      method === 'HEAD' ? (answer.headers.get('content-length') ?? '0') : String(out.length);
    if (after) Object.assign(outHeaders, await after(answer));
    res.writeHead(answer.status, outHeaders);
    res.end(method === 'HEAD' ? undefined : out);
  };

  const repositoryExists = async (repository: string): Promise<boolean> => {
    const answer = await upstream('GET', `/v2/${repository}/tags/list`, {});
    await answer.body?.cancel();
    return answer.status === 200;
  };

  const oidc = adoOidcEndpoint(counts);
  const entra = entraAuthority({ host: front, counts, federatedServiceConnection: oidc.serviceConnectionOf });
  const signIn = acrSignIn({
    host: front,
    counts,
    admin: options.admin,
    audiences: [ACR_AUDIENCE, ...(options.acceptResourceManagerTokens === false ? [] : [resourceManager])],
    entraClaims: entra.claims,
  });
  const referrers = referrersApi({ upstream, repositoryExists });
  const metadata = acrMetadata({
    host: front,
    upstream,
    upstreamStorage: options.upstreamStorage,
    signIn,
    repositoryExists,
    ownIndexes: referrers.ownIndexes,
  });
  const managedIdentity = managedIdentityEndpoint({
    tenantId: () => entra.firstTenant() ?? '00000000-0000-4000-8000-0000000000aa',
    host: front,
    issueEntraToken: entra.issueManagedIdentityToken,
  });

  // --- /v2: pass through, signed and enforced ---
  const registryApi = async (req: IncomingMessage, res: ServerResponse, path: string, body: Buffer): Promise<void> => {
    const method = req.method ?? 'GET';
    if (path === '/v2/' || path === '/v2') {
      if (!signIn.authorized(req, res, undefined, [])) return;
      return send(res, 200, {});
    }
    const match = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(path);
    if (!match) return send(res, 404, '404 page not found\n');
    const repository = match[1]!;
    const actions =
      method === 'GET' || method === 'HEAD' ? ['pull'] : method === 'DELETE' ? ['delete'] : ['pull', 'push'];
    if (!signIn.authorized(req, res, repository, actions)) return;
    if (match[2] === 'manifests' && metadata.refuses(req, res, repository, decodeURIComponent(match[3]!))) return;
    if (await referrers.answer(req, res, { repository, kind: match[2]!, rest: match[3]! }, body, relay)) return;
    return relay(req, res, body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', `https://${host}`);
    const form = new URLSearchParams((req.method ?? 'GET') === 'POST' ? body.toString('utf8') : '');
    if (managedIdentity.answer(req, res, url)) return;
    if (entra.answer(req, res, url, form)) return;
    if (oidc.answer(req, res, url)) return;
    if (signIn.answer(req, res, url, form)) return;
    const rawPath = (req.url ?? '/').split('?')[0]!;
    if (rawPath.startsWith('/acr/v1/')) return metadata.answer(req, res, rawPath.slice('/acr/v1/'.length), body);
    if (url.pathname.startsWith('/v2')) return registryApi(req, res, url.pathname, body);
    return send(res, 404, '404 page not found\n');
  };

  const server: Server = createServer(
    { cert: readFileSync(options.certs.serverCert), key: readFileSync(options.certs.serverKey) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(502);
          res.end(String(err));
        });
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  host = options.address?.() ?? `${options.name ?? '127.0.0.1'}:${port}`;

  return {
    host,
    url: `https://${host}`,
    directUrl: `https://127.0.0.1:${port}`,
    authorityHost: `https://${host}`,
    oidcRequestUri: `https://${host}${OIDC_PATH}`,
    systemAccessToken: oidc.systemAccessToken,
    resourceManager,
    counts,
    addApp: entra.addApp,
    entraTokenClaims: (token) => {
      const claims = entra.claims(token);
      return claims && claims.expiresAt > Date.now() ? { aud: claims.aud, tid: claims.tid } : undefined;
    },
    resetCounts: () => {
      Object.assign(counts, { exchange: 0, acrToken: 0, entraToken: 0, openIdConfiguration: 0, oidc: 0 });
      managedIdentity.host.reset();
    },
    tagAttributes: metadata.tagAttributes,
    manifestAttributes: metadata.manifestAttributes,
    revertPatches: metadata.revertPatches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    referrerCounts: referrers.counts,
    managedIdentity: managedIdentity.host,
  };
}
