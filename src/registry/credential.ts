// What the registry layer needs to sign in. The connection layer builds these from service
// connections and docker config files; `source` says where they came from, for error messages,
// and never holds a secret.

export type RegistryCredential =
  | { readonly kind: 'anonymous'; readonly source: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string; readonly source: string }
  /** An OAuth2 refresh token for the registry's token endpoint (docker config `identitytoken`). */
  | { readonly kind: 'refreshToken'; readonly refreshToken: string; readonly source: string };

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
  }
}
