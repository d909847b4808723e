import { DigestReleaseError, messageOf } from '../errors';
import { Digest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { FoundEvidence, findEvidence, latest } from './find';
import { RollbackFacts } from './predicate';
import { repositorySubjects } from './subjects';

// The rollback target: the digest of the latest earlier release to the same environment, taken
// from the evidence attached to the repository's digests; or a digest given, checked to exist.

export interface RollbackSearch {
  readonly facts: RollbackFacts;
  readonly notes: readonly string[];
}

export async function previousRelease(client: RegistryClient, repository: string, environment: string, current: Digest): Promise<RollbackSearch> {
  const { digests, notes } = await repositorySubjects(client, repository);
  const notesOut = [...notes];
  const candidates: FoundEvidence[] = [];
  for (const subject of digests) {
    if (subject === current) continue;
    let search;
    try {
      search = await findEvidence(client, repository, subject);
    } catch (err) {
      notesOut.push(`The evidence of ${subject} could not be read: ${messageOf(err)}`);
      continue;
    }
    for (const problem of search.problems) notesOut.push(problem.message);
    candidates.push(...search.found.filter((found) => found.evidence.environment === environment));
  }
  const previous = latest(candidates);
  if (previous === undefined) {
    return {
      facts: { digest: null, source: 'auto', evidence: null, reason: `No earlier evidence for environment ${environment} was found in ${client.registry}/${repository}.` },
      notes: notesOut,
    };
  }
  return { facts: { digest: previous.evidence.subjectDigest, source: 'auto', evidence: previous.evidence.digest, reason: null }, notes: notesOut };
}

export async function givenRollback(client: RegistryClient, repository: string, digest: Digest): Promise<RollbackFacts> {
  if ((await client.headManifest(repository, digest)) === undefined) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The input rollbackDigest has the value "${digest}": ${client.registry}/${repository} holds no manifest with that digest, so it cannot be rolled back to. Give a digest of this repository, or auto.`,
    );
  }
  return { digest, source: 'input', evidence: null, reason: null };
}
