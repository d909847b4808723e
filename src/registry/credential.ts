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
