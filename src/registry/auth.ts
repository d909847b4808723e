import { DigestReleaseError } from '../errors';
import { Challenge, parseChallenge } from './challenge';
import { RegistryCredential } from './credential';
import { describeErrors, readErrorBody } from './errorbody';
import { Transport } from './transport';

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

export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly registry: string,
    private readonly credential: RegistryCredential,
    private readonly transport: Transport,
  ) {}

  /** The Authorization header to send for `scope`, or undefined until the registry has challenged. */
  async headerFor(scope: string): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basicHeader();
    const cached = this.tokens.get(this.tokenKey(challenge, scope));
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    return this.fetchToken(challenge, scope, scope);
  }

  /**
   * Learns from a 401 and returns the header to retry with once. Throws UNAUTHORIZED when there is
   * nothing better to send than what was just refused.
   */
  async answer(response: Response, scope: string, sentHeader: string | undefined): Promise<string> {
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
    this.tokens.delete(this.tokenKey(challenge, scope));
    return this.fetchToken(challenge, scope, challenge.params.scope || scope);
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
      throw new DigestReleaseError('UNAUTHORIZED', `The registry ${this.registry} asked for a Bearer token but named no realm to get it from.`, {
        status: 401,
      });
    }
    const service = challenge.params.service;
    const realmUrl = new URL(realm);
    let response: Response;
    if (this.credential.kind === 'refreshToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.credential.refreshToken, client_id: 'digest-release', scope: wanted });
      if (service) form.set('service', service);
      response = await this.transport.send({
        method: 'POST',
        url: realmUrl.toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } else {
      if (service) realmUrl.searchParams.set('service', service);
      realmUrl.searchParams.set('scope', wanted);
      const basic = this.basicHeader();
      response = await this.transport.send({ method: 'GET', url: realmUrl.toString(), headers: basic ? { Authorization: basic } : {} });
    }
    if (response.status === 401 || response.status === 403) {
      const detail = describeErrors(await readErrorBody(response));
      if (this.credential.kind === 'anonymous') throw this.needsCredentials(scope);
      throw this.refused(scope, response.status, detail);
    }
    if (!response.ok) {
      const detail = describeErrors(await readErrorBody(response));
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The token service of ${this.registry} (${realmUrl.origin}${realmUrl.pathname}) answered ${response.status}${detail ? `: ${detail}` : ''}.`,
        { status: response.status },
      );
    }
    const body: unknown = await response.json().catch(() => undefined);
    const token = tokenFrom(body);
    if (!token) {
      throw new DigestReleaseError('REGISTRY_ERROR', `The token service of ${this.registry} answered without a token.`);
    }
    const header = `Bearer ${token.value}`;
    const lifetimeMs = (token.expiresIn ?? DEFAULT_TOKEN_LIFETIME_S) * 1000;
    this.tokens.set(this.tokenKey(challenge, scope), { header, expiresAt: Date.now() + lifetimeMs - EXPIRY_MARGIN_MS });
    return header;
  }

  private needsCredentials(scope: string): DigestReleaseError {
    return new DigestReleaseError(
      'UNAUTHORIZED',
      `The registry ${this.registry} requires sign-in for ${scope} and no credentials were found (${this.credential.source}). ` +
        'Set connectionType to dockerRegistry with a Docker Registry service connection, or run Docker@2 with command: login before this task.',
      { status: 401 },
    );
  }

  private refused(scope: string, status: number, detail = ''): DigestReleaseError {
    const who = this.credential.kind === 'basic' ? ` for user "${this.credential.username}"` : '';
    return new DigestReleaseError(
      status === 403 ? 'DENIED' : 'UNAUTHORIZED',
      `The registry ${this.registry} refused the credentials from ${this.credential.source}${who} (${scope})${detail ? `: ${detail}` : ''}. ` +
        'Check the user name and password or token, and that they grant access to this repository.',
      { status },
    );
  }
}

function tokenFrom(body: unknown): { value: string; expiresIn: number | undefined } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { token, access_token: accessToken, expires_in: expiresIn } = body as Record<string, unknown>;
  const value = typeof token === 'string' && token !== '' ? token : typeof accessToken === 'string' && accessToken !== '' ? accessToken : undefined;
  if (value === undefined) return undefined;
  return { value, expiresIn: typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : undefined };
}
