import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntraClaims } from './entra';
import { jwt, send } from './wire';

// ACR's token server, as the recordings in test/fixtures/acr-wire show it: the 401 challenge on the
// registry API, POST /oauth2/exchange (an Entra ID token for an ACR refresh token) and
// /oauth2/token (a refresh token, or the admin user's Basic sign-in, for an access token scoped to
// repositories and actions). Every other service of the front asks it whether a request may go on.

/** The audience of Entra ID tokens issued for Azure Container Registry itself. */
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

export interface SignInCounts {
  /** POST /oauth2/exchange */
  exchange: number;
  /** POST or GET /oauth2/token */
  acrToken: number;
}

export interface SignInDeps {
  /** The login server, which the challenge names as realm and service. */
  host(): string;
  readonly counts: SignInCounts;
  /** The ACR admin user (Basic at the token realm). */
  readonly admin: { readonly username: string; readonly password: string };
  /** The Entra ID audiences the exchange accepts tokens for. */
  readonly audiences: readonly string[];
  /** An Entra ID token the front issued, expired or not. */
  entraClaims(token: string): EntraClaims | undefined;
}

export interface AcrSignIn {
  /** True when the request carries a token for all of `actions` on the repository; else answers 401 with the challenge. */
  authorized(req: IncomingMessage, res: ServerResponse, repository: string | undefined, actions: string[]): boolean;
  /** True when the request was the token server's to answer (and is answered). */
  answer(req: IncomingMessage, res: ServerResponse, url: URL, form: URLSearchParams): boolean;
}

interface AccessGrant {
  readonly grants: Map<string, Set<string>>;
  readonly expiresAt: number;
}

const UNAUTHORIZED = {
  errors: [
    {
      code: 'UNAUTHORIZED',
      message: 'authentication required, visit https://aka.ms/acr/authorization for more information.',
    },
  ],
};

/** `repository:<name>` to its actions, from scope parameters (`repository:team/app:pull,push`, space separated). */
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

export function acrSignIn(deps: SignInDeps): AcrSignIn {
  const refreshTokens = new Map<string, { expiresAt: number }>();
  const accessTokens = new Map<string, AccessGrant>();
  const { counts } = deps;

  /** 401 with ACR's challenge for a resource and actions, as the recordings show it. */
  const challenge = (
    res: ServerResponse,
    resource: { type: string; name: string } | undefined,
    actions: string[],
    insufficient: boolean,
  ): void => {
    const host = deps.host();
    let header = `Bearer realm="https://${host}/oauth2/token",service="${host}"`;
    if (resource) header += `,scope="${resource.type}:${resource.name}:${actions.join(',')}"`;
    if (insufficient) header += ',error="insufficient_scope"';
    const detail = resource
      ? actions.map((action) => ({ Type: resource.type, Name: resource.name, Action: action }))
      : [];
    send(
      res,
      401,
      {
        errors: [
          {
            code: 'UNAUTHORIZED',
            message: 'authentication required, visit https://aka.ms/acr/authorization for more information.',
            ...(resource ? { detail } : {}),
          },
        ],
      },
      { 'WWW-Authenticate': header },
    );
  };

  const authorized = (
    req: IncomingMessage,
    res: ServerResponse,
    repository: string | undefined,
    actions: string[],
  ): boolean => {
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

  const exchange = (res: ServerResponse, form: URLSearchParams): void => {
    counts.exchange++;
    const host = deps.host();
    const aad = deps.entraClaims(form.get('access_token') ?? '');
    if (
      form.get('grant_type') !== 'access_token' ||
      form.get('service') !== host ||
      !aad ||
      aad.expiresAt < Date.now() ||
      !deps.audiences.includes(aad.aud)
    ) {
      send(res, 401, UNAUTHORIZED);
      return;
    }
    const lifetime = 11_700;
    const token = jwt({
      iss: 'Azure Container Registry',
      aud: host,
      grant_type: 'refresh_token',
      version: '1.0',
      exp: Math.floor(Date.now() / 1000) + lifetime,
      tenant: aad.tid,
    });
    refreshTokens.set(token, { expiresAt: Date.now() + lifetime * 1000 });
    send(res, 200, { refresh_token: token });
  };

  const issueAccessToken = (res: ServerResponse, scopes: string[]): void => {
    const lifetime = 4_500;
    const grants = parseScopes(scopes);
    const access = [...grants].map(([resource, actions]) => ({
      Type: resource.split(':')[0],
      Name: resource.slice(resource.indexOf(':') + 1),
      Actions: [...actions],
    }));
    const token = jwt({
      iss: 'Azure Container Registry',
      aud: deps.host(),
      version: '2.0',
      access,
      grant_type: 'access_token',
      exp: Math.floor(Date.now() / 1000) + lifetime,
    });
    accessTokens.set(token, { grants, expiresAt: Date.now() + lifetime * 1000 });
    send(res, 200, { access_token: token });
  };

  const acrToken = (req: IncomingMessage, res: ServerResponse, url: URL, form: URLSearchParams): void => {
    counts.acrToken++;
    const host = deps.host();
    const unauthorized = (): void => send(res, 401, UNAUTHORIZED);
    if (req.method === 'GET') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const expected = Buffer.from(`${deps.admin.username}:${deps.admin.password}`).toString('base64');
      if (!basic || basic[1] !== expected || url.searchParams.get('service') !== host) {
        unauthorized();
        return;
      }
      issueAccessToken(res, url.searchParams.getAll('scope'));
      return;
    }
    const refresh = refreshTokens.get(form.get('refresh_token') ?? '');
    if (
      form.get('grant_type') !== 'refresh_token' ||
      form.get('service') !== host ||
      !refresh ||
      refresh.expiresAt < Date.now()
    ) {
      unauthorized();
      return;
    }
    issueAccessToken(res, form.getAll('scope'));
  };

  return {
    authorized,
    answer: (req, res, url, form) => {
      const method = req.method ?? 'GET';
      if (method === 'POST' && url.pathname === '/oauth2/exchange') {
        exchange(res, form);
        return true;
      }
      if ((method === 'POST' || method === 'GET') && url.pathname === '/oauth2/token') {
        acrToken(req, res, url, form);
        return true;
      }
      return false;
    },
  };
}
