import { hasAcrHostName, isAcrChallenge } from '../acr/detect';
import { ManifestProperties, getManifestProperties } from '../acr/properties';
import { messageOf } from '../errors';
import { Digest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { LockFacts } from './predicate';

// The lock state of the released manifest, read live from the registry. Only Azure Container
// Registry has manifest locks (changeableAttributes writeEnabled, deleteEnabled). An ACR is
// recognised by its challenge, as DigestLock does (acr/detect.ts). A registry that allows anonymous
// pulls may not have challenged yet; rather than probe first (isAcr), the properties read is the
// probe: ACR always challenges /acr/v1, and the challenge seen by then decides. A state that cannot be read is `unknown` with
// the registry's reason, never guessed.

/** Who may read lock properties, for messages. */
export const METADATA_READ_ROLES =
  'The identity needs to read repository metadata (the metadata_read scope): Contributor or Owner on the registry, Container Registry Repository Reader on registries with repository permissions (ABAC), or, for a Docker Registry connection, an ACR token whose scope map has metadata/read.';

export async function readLockFacts(client: RegistryClient, repository: string, digest: Digest): Promise<LockFacts> {
  const name = `${client.registry}/${repository}@${digest}`;
  // A challenge already seen decides without a request; only its absence says nothing.
  if (client.challenge !== undefined && !isAcrChallenge(client.registry, client.challenge)) return notAcr(client.registry);

  let properties: ManifestProperties | undefined;
  let failure: unknown;
  try {
    properties = await getManifestProperties(client, repository, digest);
  } catch (err) {
    failure = err;
  }
  if (!isAcrChallenge(client.registry, client.challenge)) return notAcr(client.registry);
  if (properties === undefined) {
    return unknown(`The lock properties of ${name} could not be read: ${messageOf(failure)} ${METADATA_READ_ROLES}`);
  }
  if (properties.digest !== digest) {
    return unknown(`The registry answered the lock properties of ${name} for another manifest, ${properties.digest}.`);
  }
  const { writeEnabled, deleteEnabled } = properties.attributes;
  return { state: writeEnabled ? 'unlocked' : 'locked', reason: null, writeEnabled, deleteEnabled };
}

function unknown(reason: string): LockFacts {
  return { state: 'unknown', reason, writeEnabled: null, deleteEnabled: null };
}

function notAcr(registry: string): LockFacts {
  if (hasAcrHostName(registry)) {
    // An ACR name that does not answer as an ACR: something stands between, so nothing is assumed.
    return unknown(
      `${registry} has an Azure Container Registry name but did not answer as one (no Bearer challenge from its own /oauth2/token), so its manifest locks could not be read. Check the connection type and the registry name.`,
    );
  }
  return { state: 'notApplicable', reason: `${registry} is not an Azure Container Registry and has no manifest locks.`, writeEnabled: null, deleteEnabled: null };
}
