import { DigestReleaseError } from '../errors';
import { isRecord, parseJson } from '../json';
import type { RefreshTokenSource } from '../registry/sign-in';
import { ENTRA_ACR_ONLY, jwtLifetime } from '../registry/sign-in';
import { describeErrors, readErrorBody } from '../registry/error-answers';
import { Transport } from '../http/transport';
import { retriesNote } from '../http/failures';
import { acrRealm } from './detect';

// The ACR token exchange: a Microsoft Entra ID access token is traded at POST /oauth2/exchange for
// an ACR refresh token, which the registry layer then trades at /oauth2/token for one access token
// per scope. One exchange per registry per process: the refresh token is cached for its lifetime
// (its JWT exp; ACR answers carry no expires_in) and shared by every client that holds this source.

export const ACR_API_VERSION = '2021-07-01';

/** An Entra ID access token for the registry, from a service connection. */
export interface EntraToken {
  readonly token: string;
  /** Milliseconds since the epoch. */
  readonly expiresOnTimestamp: number;
}

export interface EntraTokenSource {
  /** Names the service connection, for messages. */
  readonly description: string;
  /** Also the tenant the token is from, which ACR accepts as a hint. */
  readonly tenantId: string | undefined;
  getToken(): Promise<EntraToken>;
  secrets(): readonly string[];
}

/** Refresh tokens whose lifetime cannot be read are asked for again after this long. */
const FALLBACK_LIFETIME_S = 30 * 60;
const EXPIRY_MARGIN_MS = 60_000;
/** An exchange answer is one refresh token, a few KiB. */
const MAX_EXCHANGE_ANSWER_BYTES = 1024 * 1024;

interface CachedRefreshToken {
  token: Promise<string>;
  expiresAt: number;
}

export interface ExchangeCounters {
  exchanges: number;
}

export class AcrTokenExchange implements RefreshTokenSource {
  private readonly cache = new Map<string, CachedRefreshToken>();
  /** Exchanges done by this source, for tests and logs. */
  readonly counters: ExchangeCounters = { exchanges: 0 };

  constructor(
    private readonly entra: EntraTokenSource,
    private readonly transport: Transport = new Transport(),
    private readonly onSecret: (value: string) => void = () => undefined,
  ) {}

  secrets(): readonly string[] {
    return this.entra.secrets();
  }

  refreshToken(registry: string, realm: URL, service: string | undefined): Promise<string> {
    const key = `${registry.toLowerCase()}\n${service ?? ''}`;
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.token;
    const entry: CachedRefreshToken = { token: Promise.resolve(''), expiresAt: Number.POSITIVE_INFINITY };
    entry.token = this.exchange(registry, realm, service).then(
      (token) => {
        entry.expiresAt = Date.now() + (jwtLifetime(token) ?? FALLBACK_LIFETIME_S) * 1000 - EXPIRY_MARGIN_MS;
        return token;
      },
      (err: unknown) => {
        this.cache.delete(key);
        throw err;
      },
    );
    this.cache.set(key, entry);
    return entry.token;
  }

  forget(registry: string, service: string | undefined): void {
    this.cache.delete(`${registry.toLowerCase()}\n${service ?? ''}`);
  }

  private async exchange(registry: string, realm: URL, service: string | undefined): Promise<string> {
    // An Entra ID token for Azure Resource Manager opens more than a registry: it goes only to an
    // ACR's own token service on the host the image names, never to a realm elsewhere.
    const acr = acrRealm(registry, realm.toString());
    if (!acr || !service) {
      throw new DigestReleaseError(
        'CREDENTIALS',
        `The registry ${registry} does not sign in the way Azure Container Registry does (its challenge names the token service ${realm.origin}${realm.pathname}` +
          `${service ? ` for "${service}"` : ' and no service'}), so the Entra ID token of ${this.entra.description} is not sent to it. ` +
          ENTRA_ACR_ONLY,
      );
    }
    const entraToken = await this.entra.getToken();
    this.onSecret(entraToken.token);
    const form = new URLSearchParams({ grant_type: 'access_token', service, access_token: entraToken.token });
    if (this.entra.tenantId) form.set('tenant', this.entra.tenantId);
    const url = new URL('/oauth2/exchange', acr);
    url.searchParams.set('api-version', ACR_API_VERSION);
    this.counters.exchanges++;
    const { response, body } = await this.transport.readWhole(
      (stalls) =>
        this.transport.send({
          method: 'POST',
          url: url.toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          stalls,
        }),
      {
        bytes: MAX_EXCHANGE_ANSWER_BYTES,
        what: `The answer of the registry ${registry} at /oauth2/exchange`,
        kind: 'a token answer',
        code: 'REGISTRY_ERROR',
      },
    );
    if (!response.ok || body === undefined) {
      const detail = describeErrors(await readErrorBody(response));
      const refused = response.status === 401 || response.status === 403;
      throw new DigestReleaseError(
        refused ? 'UNAUTHORIZED' : 'REGISTRY_ERROR',
        `The registry ${registry} ${refused ? 'refused' : `answered ${response.status} to`} the Entra ID token of ${this.entra.description} at /oauth2/exchange` +
          `${detail ? ` (${detail})` : ''}. ` +
          (refused
            ? 'Check that the service connection is for the tenant of the registry and that its identity has a role on the registry (AcrPull to read, a role with metadata write to lock).'
            : `${retriesNote(response).trim() || 'Try again;'} If it persists, check the registry's health in the Azure portal.`),
        { status: response.status },
      );
    }
    const parsed = parseJson(body.toString('utf8'));
    const token = isRecord(parsed) ? parsed.refresh_token : undefined;
    if (typeof token !== 'string' || token === '') {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The registry ${registry} answered /oauth2/exchange with ${isRecord(parsed) ? 'JSON without a refresh_token' : 'something that is not JSON'} instead of a refresh token. ` +
          `Check that nothing between the agent and ${registry} (a proxy, a captive portal) answers in its place.`,
      );
    }
    this.onSecret(token);
    return token;
  }
}
