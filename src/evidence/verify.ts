import { DigestReleaseError } from '../errors';
import { Digest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { FoundEvidence, findEvidence, latest } from './find';
import { LOCK_NOT_READABLE, isAzureContainerRegistry } from './lock';

// Verify mode: the digest must carry evidence about itself that says the scan passed (for the
// environment, when one is named), and on Azure Container Registry the manifest must be locked.

export async function verifyEvidence(client: RegistryClient, repository: string, digest: Digest, environment: string | undefined): Promise<FoundEvidence> {
  const name = `${client.registry}/${repository}@${digest}`;
  const { found, problems } = await findEvidence(client, repository, digest);
  if (problems.length > 0) {
    throw new DigestReleaseError('EVIDENCE_INVALID', `${problems.map((p) => p.message).join(' ')} Evidence that does not match its subject cannot vouch for ${name}.`);
  }
  if (found.length === 0) {
    throw new DigestReleaseError(
      'EVIDENCE_NOT_FOUND',
      `${name} carries no release evidence. Record it with DigestEvidence@1 (mode record) when the digest is released, and copy referrers along when promoting.`,
    );
  }
  const forEnvironment = environment === undefined ? found : found.filter((f) => f.evidence.environment === environment);
  const chosen = latest(forEnvironment);
  if (chosen === undefined) {
    const seen = [...new Set(found.map((f) => f.evidence.environment ?? '(none)'))].join(', ');
    throw new DigestReleaseError('EVIDENCE_NOT_FOUND', `${name} has evidence for ${seen} but none for environment ${environment}: it was never released there.`);
  }
  const { evidence } = chosen;
  if (evidence.scanStatus !== 'passed') {
    throw new DigestReleaseError(
      'EVIDENCE_REJECTED',
      `The latest evidence of ${name}${environment ? ` for ${environment}` : ''} (written ${evidence.writtenAt}, ${evidence.digest}) says scanStatus ${evidence.scanStatus}, not passed. Do not release it; scan it again and record new evidence.`,
    );
  }
  if (isAzureContainerRegistry(client.registry)) {
    throw new DigestReleaseError(
      'LOCK_STATE_UNKNOWN',
      `${name} is on Azure Container Registry, where verify also requires the manifest to be locked, but ${LOCK_NOT_READABLE}, so the lock cannot be checked and the digest is not accepted.`,
    );
  }
  return chosen;
}
