import { DigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { FoundEvidence } from './find';
import { findEvidence, latest } from './find';
import type { LockFacts } from '../acr/locks';
import { readLockFacts } from '../acr/locks';

// Verify mode: the digest must carry evidence about itself that says the scan passed (for the
// environment, when one is named), and on Azure Container Registry the manifest must be locked
// now: the lock is read live, not taken from the evidence, which may predate the lock.

export interface VerifiedEvidence {
  readonly chosen: FoundEvidence;
  /** The manifest's lock state as the registry reports it at verification. */
  readonly lock: LockFacts;
}

export async function verifyEvidence(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  environment: string | undefined,
): Promise<VerifiedEvidence> {
  const name = `${client.registry}/${repository}@${digest}`;
  const { found, problems } = await findEvidence(client, repository, digest);
  if (problems.length > 0) {
    throw new DigestReleaseError(
      'EVIDENCE_INVALID',
      `${problems.map((p) => p.message).join(' ')} Evidence that does not match its subject cannot vouch for ${name}.`,
    );
  }
  if (found.length === 0) {
    throw new DigestReleaseError(
      'EVIDENCE_NOT_FOUND',
      `${name} carries no release evidence. Record it with DigestEvidence@1 (mode record) when the digest is released, and copy referrers along when promoting.`,
    );
  }
  const forEnvironment =
    environment === undefined ? found : found.filter((f) => f.evidence.environment === environment);
  const chosen = latest(forEnvironment);
  if (chosen === undefined) {
    const seen = [...new Set(found.map((f) => f.evidence.environment ?? '(none)'))].join(', ');
    throw new DigestReleaseError(
      'EVIDENCE_NOT_FOUND',
      `${name} has evidence for ${seen} but none for environment ${environment}: it was never released there.`,
    );
  }
  const { evidence } = chosen;
  if (evidence.scanStatus !== 'passed') {
    throw new DigestReleaseError(
      'EVIDENCE_REJECTED',
      `The latest evidence of ${name}${environment ? ` for ${environment}` : ''} (written ${evidence.writtenAt}, ${evidence.digest}) says scanStatus ${evidence.scanStatus}, not passed. Do not release it; scan it again and record new evidence.`,
    );
  }
  return { chosen, lock: await requireLocked(client, repository, digest) };
}

/** On ACR, the manifest must be write-locked; elsewhere there is no lock to require. */
async function requireLocked(client: RegistryClient, repository: string, digest: Digest): Promise<LockFacts> {
  const name = `${client.registry}/${repository}@${digest}`;
  const lock = await readLockFacts(client, repository, digest);
  const howToLock =
    `Lock it with DigestLock@1 (image: the tag it was released under, expectedDigest: ${digest}; lockManifest stays true), ` +
    `or az acr repository update --name <registry> --image ${repository}@${digest} --write-enabled false, then verify again.`;
  switch (lock.state) {
    case 'locked':
    case 'notApplicable':
      return lock;
    case 'unlocked':
      throw new DigestReleaseError(
        'EVIDENCE_REJECTED',
        `The manifest ${name} is not locked (writeEnabled=${String(lock.writeEnabled)}, deleteEnabled=${String(lock.deleteEnabled)}); on Azure Container Registry verify requires the released manifest to be write-locked. ${howToLock}`,
      );
    case 'unknown':
      throw new DigestReleaseError(
        'LOCK_STATE_UNKNOWN',
        `Verify requires the manifest ${name} to be locked on Azure Container Registry, but its lock state is unknown, so the digest is not accepted. ${lock.reason ?? ''}`.trim(),
      );
  }
}
