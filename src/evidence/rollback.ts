import { DigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { FoundEvidence } from './find';
import { latest } from './find';
import type { RollbackFacts } from './predicate';
import { repositoryEvidence } from './repository';

// The rollback target: the digest of the latest earlier release to the same environment whose
// scan passed, taken from the evidence attached to the repository's digests; or a digest given,
// checked to exist. A rollback is verified before it deploys and verify needs a passed scan, so a
// newer release whose scan did not pass is skipped, and the skip said, not hidden.

export interface RollbackSearch {
  readonly facts: RollbackFacts;
  readonly notes: readonly string[];
}

/** Of the evidence for one environment: the latest whose scan passed, and what newer was skipped for it. */
export function chooseRollback(candidates: readonly FoundEvidence[]): {
  chosen: FoundEvidence | undefined;
  skipped: FoundEvidence[];
  nonePassed: boolean;
} {
  const newest = latest(candidates);
  const passed = latest(candidates.filter((c) => c.evidence.scanStatus === 'passed'));
  if (passed === undefined) return { chosen: newest, skipped: [], nonePassed: newest !== undefined };
  const time = (c: FoundEvidence) => Date.parse(c.evidence.writtenAt);
  const skipped = candidates
    .filter((c) => c.evidence.scanStatus !== 'passed' && time(c) >= time(passed))
    .sort((a, b) => time(b) - time(a));
  return { chosen: passed, skipped, nonePassed: false };
}

function describeSkipped(skipped: readonly FoundEvidence[], environment: string): string {
  const list = skipped
    .map((s) => `${s.evidence.subjectDigest} (scan ${s.evidence.scanStatus}, ${s.evidence.writtenAt})`)
    .join(', ');
  return `Skipped ${skipped.length} newer release${skipped.length === 1 ? '' : 's'} to ${environment} whose scan did not pass: ${list}. A rollback target needs a passed scan.`;
}

export async function previousRelease(
  client: RegistryClient,
  repository: string,
  environment: string,
  current: Digest,
): Promise<RollbackSearch> {
  const scan = await repositoryEvidence(client, repository, { exclude: current });
  const notesOut = [...scan.subjects.notes];
  for (const failure of scan.failures)
    notesOut.push(`The evidence of ${failure.subject} could not be read: ${failure.message}`);
  for (const problem of scan.problems) notesOut.push(problem.message);
  const candidates = scan.found.filter((found) => found.evidence.environment === environment);
  const { chosen, skipped, nonePassed } = chooseRollback(candidates);
  if (chosen === undefined) {
    return {
      facts: {
        digest: null,
        source: 'auto',
        evidence: null,
        reason: `No earlier evidence for environment ${environment} was found in ${client.registry}/${repository}.`,
      },
      notes: notesOut,
    };
  }
  let reason: string | null = null;
  if (skipped.length > 0) reason = describeSkipped(skipped, environment);
  else if (nonePassed) {
    reason = `No earlier release to ${environment} has a passed scan; the latest (scan ${chosen.evidence.scanStatus}) is named, and verifying it as a rollback target will fail.`;
  }
  if (reason !== null) notesOut.push(reason);
  return {
    facts: { digest: chosen.evidence.subjectDigest, source: 'auto', evidence: chosen.evidence.digest, reason },
    notes: notesOut,
  };
}

export async function givenRollback(
  client: RegistryClient,
  repository: string,
  digest: Digest,
): Promise<RollbackFacts> {
  if ((await client.headManifest(repository, digest)) === undefined) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The input rollbackDigest has the value "${digest}": ${client.registry}/${repository} holds no manifest with that digest, so it cannot be rolled back to. Give a digest of this repository, or auto.`,
    );
  }
  return { digest, source: 'input', evidence: null, reason: null };
}
