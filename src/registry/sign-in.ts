import { DigestReleaseError } from '../errors';
import type { HttpResponse } from '../http/response';
import { bareMediaType } from '../http/response';
import type { StallBudget, Transport } from '../http/transport';
import { isRecord, parseJson } from '../json';
import { describeErrors, readErrorBody, unexpectedAnswer } from './error-answers';

// Signing in to a registry: the credentials it is given, the WWW-Authenticate challenge it answers
// with, the token scopes of its operations, and the Authenticator that signs every request.

// What the registry layer needs to sign in. The connection layer builds these from service
// connections and docker config files; `source` says where they came from, for error messages,
// and never holds a secret.

export type RegistryCredential =
  | { readonly kind: 'anonymous'; readonly source: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string; readonly source: string }
  /** An OAuth2 refresh token for the registry's token endpoint (docker config `identitytoken`). */
  | { readonly kind: 'refreshToken'; readonly refreshToken: string; readonly source: string }
  /**
   * A refresh token obtained on demand for the realm that challenged: Azure Container Registry
   * trades a Microsoft Entra ID token for one at /oauth2/exchange (src/acr/exchange.ts).
   */
  | { readonly kind: 'refreshTokenSource'; readonly tokens: RefreshTokenSource; readonly source: string };

/** Where a `refreshTokenSource` credential gets its refresh tokens; implementations cache them. */
export interface RefreshTokenSource {
  /** A refresh token for the token service at `realm`; `registry` is the host the challenge came from. */
  refreshToken(registry: string, realm: URL, service: string | undefined): Promise<string>;
  /** Forget a refresh token the token service refused, so the next call gets a fresh one. */
  forget(registry: string, service: string | undefined): void;
  /** The static secrets behind the source (a client secret, a certificate's key), for masking. */
  secrets(): readonly string[];
}

/** The fix when an Entra ID sign-in (a `refreshTokenSource`) meets a registry that is not an ACR. */
export const ENTRA_ACR_ONLY =
  'An Entra ID sign-in (connectionType azureRM, or a Docker Registry service connection of type Azure Container Registry) works with Azure Container Registry only; ' +
  'for this registry use a Docker Registry service connection with a user name and password (connectionType: dockerRegistry).';

export const ANONYMOUS: RegistryCredential = { kind: 'anonymous', source: 'anonymous access' };

/** The secret parts of a credential, for masking in logs. */
export function secretsOf(credential: RegistryCredential): string[] {
  switch (credential.kind) {
    case 'anonymous':
      return [];
    case 'basic':
      return [credential.password, Buffer.from(`${credential.username}:${credential.password}`).toString('base64')];
    case 'refreshToken':
      return [credential.refreshToken];
    case 'refreshTokenSource':
      return [...credential.tokens.secrets()];
  }
}

// Parses a WWW-Authenticate header (RFC 7235) into its scheme and parameters. Registries send one
// challenge; a header with several is read up to the first scheme we can answer.

export interface Challenge {
  readonly scheme: 'bearer' | 'basic';
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  let rest = header.trim();
  while (rest !== '') {
    rest = rest.replace(/^[\s,]+/, '');
    const schemeMatch = TOKEN.exec(rest);
    if (!schemeMatch) return undefined;
    const scheme = schemeMatch[0].toLowerCase();
    rest = rest.slice(schemeMatch[0].length).trimStart();
    const params: Record<string, string> = {};
    // auth-param = token BWS "=" BWS ( token / quoted-string ), separated by commas
    for (;;) {
      const nameMatch = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/.exec(rest);
      if (!nameMatch) break;
      rest = rest.slice(nameMatch[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        const valueMatch = /^[^,\s]*/.exec(rest)!;
        value = valueMatch[0];
        rest = rest.slice(value.length);
      }
      params[nameMatch[1]!.toLowerCase()] = value;
      rest = rest.trimStart();
      if (!rest.startsWith(',')) break;
      rest = rest.slice(1).trimStart();
    }
    if (scheme === 'bearer' || scheme === 'basic') return { scheme, params };
  }
  return undefined;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Pull and push on one repository: what writing blobs, manifests and tags needs. */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

// Signs requests to one registry. The first request goes out without credentials; the registry's
// 401 challenge says how to sign in (Basic, or a Bearer token from a realm for a scope). From then
// on every request is signed up front, and Bearer tokens are cached per realm, service and scope
// for their lifetime, so a scope costs one token request per process.

interface CachedToken {
  readonly header: string;
  readonly expiresAt: number;
}

/** Tokens without expires_in live 60 seconds (distribution token spec). */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Renew this long before expiry, so a token does not run out between check and use. */
const EXPIRY_MARGIN_MS = 10_000;
/** A token answer is a few KiB (a JWT and its lifetime). */
const MAX_TOKEN_ANSWER_BYTES = 1024 * 1024;

export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  /** Token requests under way, so concurrent requests for one scope share one token request. */
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly registry: string,
    private readonly credential: RegistryCredential,
    private readonly transport: Transport,
    /** Called with every token obtained, so the task can mask it in the log. */
    private readonly onSecret: (value: string) => void = () => undefined,
  ) {}

  /** The last challenge the registry sent, undefined while it has sent none. */
  get lastChallenge(): Challenge | undefined {
    return this.challenge;
  }

  /** The Authorization header to send for `scope`, or undefined until the registry has challenged. */
  async headerFor(scope: string): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basicHeader();
    const cached = this.tokens.get(this.tokenKey(challenge, scope));
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    return this.tokenFor(challenge, scope, scope);
  }

  /**
   * Learns from a 401 and returns the header to retry with once. Throws UNAUTHORIZED when there is
   * nothing better to send than what was just refused.
   */
  async answer(response: HttpResponse, scope: string, sentHeader: string | undefined): Promise<string> {
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    await response.body?.cancel();
    if (!challenge) {
      throw new DigestReleaseError(
        'UNAUTHORIZED',
        `The registry ${this.registry} answered 401 without a challenge the task understands (Basic or Bearer).`,
        { status: 401 },
      );
    }
    this.challenge = challenge;
    if (challenge.scheme === 'basic') {
      const header = this.basicHeader();
      if (header === undefined) throw this.needsCredentials(scope);
      if (sentHeader === header) throw this.refused(scope, 401);
      return header;
    }
    // A cached token that was refused (expired early, or too narrow: insufficient_scope) is dropped.
    // The challenge's scope is what the registry wants for this request; ours is the fallback.
    const key = this.tokenKey(challenge, scope);
    if (this.tokens.get(key)?.header === sentHeader) this.tokens.delete(key);
    const cached = this.tokens.get(key);
    if (cached && cached.header !== sentHeader && cached.expiresAt > Date.now()) return cached.header;
    return this.tokenFor(challenge, scope, challenge.params.scope || scope);
  }

  /** One token request per realm, service and scope at a time; later callers wait for it. */
  private tokenFor(challenge: Challenge, scope: string, wanted: string): Promise<string> {
    const key = this.tokenKey(challenge, scope);
    let request = this.pending.get(key);
    if (!request) {
      request = this.fetchToken(challenge, scope, wanted).finally(() => this.pending.delete(key));
      this.pending.set(key, request);
    }
    return request;
  }

  /** The error for a request refused even with the header `answer` gave. */
  refusedAfterSignIn(scope: string, status: number, detail: string): DigestReleaseError {
    if (this.credential.kind === 'anonymous') return this.needsCredentials(scope);
    return this.refused(scope, status, detail);
  }

  private basicHeader(): string | undefined {
    if (this.credential.kind !== 'basic') return undefined;
    return `Basic ${Buffer.from(`${this.credential.username}:${this.credential.password}`).toString('base64')}`;
  }

  private tokenKey(challenge: Challenge, scope: string): string {
    return `${challenge.params.realm ?? ''}\n${challenge.params.service ?? ''}\n${scope}`;
  }

  /** Fetches a token for `wanted` and caches it under `scope`, the scope our request needs. */
  private async fetchToken(challenge: Challenge, scope: string, wanted: string): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new DigestReleaseError(
        'UNAUTHORIZED',
        `The registry ${this.registry} asked for a Bearer token but named no realm to get it from.`,
        {
          status: 401,
        },
      );
    }
    const service = challenge.params.service;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The registry ${this.registry} named a token service "${realm}" that is not a URL.`,
      );
    }
    // Credentials go to a token service only over TLS, wherever the registry points.
    if (realmUrl.protocol !== 'https:') {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The registry ${this.registry} named the token service ${realmUrl.origin}${realmUrl.pathname}, which is not https; the task sends no credentials or token requests over plain HTTP.`,
      );
    }
    const send = async (stalls: StallBudget): Promise<HttpResponse> => {
      if (this.credential.kind === 'refreshToken')
        return this.postRefreshToken(realmUrl, this.credential.refreshToken, wanted, service, stalls);
      if (this.credential.kind === 'refreshTokenSource') {
        const tokens = this.credential.tokens;
        const first = await this.postRefreshToken(
          realmUrl,
          await tokens.refreshToken(this.registry, realmUrl, service),
          wanted,
          service,
          stalls,
        );
        if (first.status !== 401) return first;
        // A refresh token the service no longer honours (revoked, or expired early): one new exchange.
        await first.body?.cancel();
        tokens.forget(this.registry, service);
        return this.postRefreshToken(
          realmUrl,
          await tokens.refreshToken(this.registry, realmUrl, service),
          wanted,
          service,
          stalls,
        );
      }
      const url = new URL(realmUrl);
      if (service) url.searchParams.set('service', service);
      url.searchParams.set('scope', wanted);
      const basic = this.basicHeader();
      return this.transport.send({
        method: 'GET',
        url: url.toString(),
        headers: basic ? { Authorization: basic } : {},
        stalls,
      });
    };
    const serviceName = `token service of ${this.registry} (${realmUrl.origin}${realmUrl.pathname})`;
    const { response, body } = await this.transport.readWhole(send, {
      bytes: MAX_TOKEN_ANSWER_BYTES,
      what: `The answer of the ${serviceName}`,
      kind: 'a token answer',
      code: 'REGISTRY_ERROR',
    });
    if (response.status === 401 || response.status === 403) {
      const detail = describeErrors(await readErrorBody(response));
      if (this.credential.kind === 'anonymous') throw this.needsCredentials(scope);
      throw this.refused(scope, response.status, detail);
    }
    if (!response.ok || body === undefined)
      throw unexpectedAnswer(serviceName, response, `to a token request for ${wanted}`, await readErrorBody(response));
    const parsed = parseJson(body.toString('utf8'));
    const token = tokenFrom(parsed);
    if (!token) {
      // What came instead, without its content: it may hold a secret.
      const got = !isRecord(parsed)
        ? `${body.byteLength} bytes that are not a JSON object (${bareMediaType(response.headers.get('content-type')) || 'no content type'})`
        : `a JSON object without a "token" or "access_token" string (its fields: ${Object.keys(parsed).slice(0, 10).join(', ') || 'none'})`;
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${serviceName} answered ${response.status} to a token request for ${wanted}, but with ${got} instead of a token. ` +
          `Check that nothing between the agent and ${realmUrl.host} (a proxy, a captive portal) answers in its place, and that the registry's challenge names its real token service; ` +
          'if the registry allows anonymous pulls, connectionType: anonymous skips sign-in.',
      );
    }
    this.onSecret(token.value);
    const header = `Bearer ${token.value}`;
    const lifetimeMs = (token.expiresIn ?? DEFAULT_TOKEN_LIFETIME_S) * 1000;
    this.tokens.set(this.tokenKey(challenge, scope), { header, expiresAt: Date.now() + lifetimeMs - EXPIRY_MARGIN_MS });
    return header;
  }

  private postRefreshToken(
    realmUrl: URL,
    refreshToken: string,
    scope: string,
    service: string | undefined,
    stalls: StallBudget,
  ): Promise<HttpResponse> {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'digest-release',
      scope,
    });
    if (service) form.set('service', service);
    return this.transport.send({
      method: 'POST',
      url: realmUrl.toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      stalls,
    });
  }

  private needsCredentials(scope: string): DigestReleaseError {
    if (this.credential.kind === 'refreshTokenSource') {
      return new DigestReleaseError(
        'CREDENTIALS',
        `The registry ${this.registry} asks for a user name and password (Basic), which is not how Azure Container Registry signs in, so ${this.credential.source} cannot sign in to it. ` +
          ENTRA_ACR_ONLY,
        { status: 401 },
      );
    }
    return new DigestReleaseError(
      'UNAUTHORIZED',
      `The registry ${this.registry} requires sign-in for ${scope} and no credentials were found (${this.credential.source}). ` +
        'Set connectionType to dockerRegistry with a Docker Registry service connection, or run Docker@2 with command: login before this task.',
      { status: 401 },
    );
  }

  private refused(scope: string, status: number, detail = ''): DigestReleaseError {
    const who = this.credential.kind === 'basic' ? ` for user "${this.credential.username}"` : '';
    const fix =
      this.credential.kind === 'refreshTokenSource'
        ? 'Check that the identity of the service connection has a role on the registry that allows this (AcrPull to read; a role that writes repository metadata, such as Contributor on the registry or Container Registry Repository Writer, to lock).'
        : 'Check the user name and password or token, and that they grant access to this repository.';
    return new DigestReleaseError(
      status === 403 ? 'DENIED' : 'UNAUTHORIZED',
      `The registry ${this.registry} refused the credentials from ${this.credential.source}${who} (${scope})${detail ? `: ${detail}` : ''}. ${fix}`,
      { status },
    );
  }
}

function tokenFrom(body: unknown): { value: string; expiresIn: number | undefined } | undefined {
  if (!isRecord(body)) return undefined;
  const { token, access_token: accessToken, expires_in: expiresIn } = body;
  const value =
    typeof token === 'string' && token !== ''
      ? token
      : typeof accessToken === 'string' && accessToken !== ''
        ? accessToken
        : undefined;
  if (value === undefined) return undefined;
  return { value, expiresIn: typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : jwtLifetime(value) };
}

/**
 * Seconds until a JWT's `exp`, read without checking the signature (only to know when to ask
 * again; the registry checks the token). ACR's token answers carry no expires_in, only this.
 */
export function jwtLifetime(token: string, now = Date.now()): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(payload)) return undefined;
  const exp = payload.exp;
  if (typeof exp !== 'number') return undefined;
  const seconds = Math.floor(exp - now / 1000);
  return seconds > 0 ? seconds : undefined;
}
