import { apiHost } from '../reference/reference';
import type { Challenge } from '../registry/sign-in';
import { isDigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';

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
  if (challenge?.scheme !== 'bearer') return false;
  const realm = acrRealm(registry, challenge.params.realm);
  const service = challenge.params.service;
  return realm !== undefined && service !== undefined && service.toLowerCase() === realm.host.toLowerCase();
}

export function hasAcrHostName(registry: string): boolean {
  const host = registry.toLowerCase().replace(/:\d+$/, '');
  return ACR_HOST_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

/**
 * Whether the client's registry is an ACR. A challenge already seen decides. A client that has
 * needed no sign-in yet (a registry that allows anonymous pulls, or a cache in front that served the
 * reads) asks ACR's own API, which ACR always guards with its challenge and other registries do not
 * have: the challenge that brings, or its absence, decides.
 */
export async function isAcr(client: RegistryClient, repository: string, digest: Digest): Promise<boolean> {
  if (client.challenge === undefined) {
    try {
      // ACR signs in before it looks the manifest up, so the digest need not be there yet.
      const probe = await client.request({
        method: 'GET',
        path: `/acr/v1/${repository}/_manifests/${digest}`,
        scope: `repository:${repository}:metadata_read`,
      });
      await probe.body?.cancel();
    } catch (err) {
      // Refused sign-in still leaves the challenge behind, which is what is asked here.
      if (!isDigestReleaseError(err)) throw err;
    }
  }
  return isAcrChallenge(client.registry, client.challenge);
}
