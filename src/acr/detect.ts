import { apiHost } from '../reference/reference';
import { Challenge } from '../registry/challenge';

// How an Azure Container Registry is told apart from other registries: by how it asks for sign-in.
// ACR challenges with a Bearer realm on its own host at /oauth2/token and names itself as the
// service (acr-wire: every recorded 401). Docker Hub, GHCR, Quay, ECR, GAR and distribution's token
// auth all use other realms or Basic. Host names alone would miss registries behind custom domains
// and Azure Stack, so they are only a hint for messages.

const ACR_HOST_SUFFIXES = ['.azurecr.io', '.azurecr.cn', '.azurecr.us'];

/** The realm URL when `realm` is ACR's token endpoint on the registry's own host. */
export function acrRealm(registry: string, realm: string | undefined): URL | undefined {
  if (!realm) return undefined;
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.host.toLowerCase() !== apiHost(registry).toLowerCase()) return undefined;
  return url.pathname === '/oauth2/token' ? url : undefined;
}

export function isAcrChallenge(registry: string, challenge: Challenge | undefined): boolean {
  if (!challenge || challenge.scheme !== 'bearer') return false;
  const realm = acrRealm(registry, challenge.params.realm);
  const service = challenge.params.service;
  return realm !== undefined && service !== undefined && service.toLowerCase() === realm.host.toLowerCase();
}

export function hasAcrHostName(registry: string): boolean {
  const host = registry.toLowerCase().replace(/:\d+$/, '');
  return ACR_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}
