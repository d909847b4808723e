import { messageOf } from '../errors';
import { runPool } from '../pool';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { EvidenceProblem, FoundEvidence } from './find';
import { findEvidence } from './find';
import type { RepositorySubjects } from './subjects';
import { repositorySubjects } from './subjects';

// All the release evidence of a repository: the digests that may carry it (subjects.ts), and the
// evidence attached to each, read a few digests at a time. Nothing is dropped quietly: evidence
// that is not valid is a problem with the digest it is attached to, and a digest whose referrers
// could not be read at all is a failure; each caller decides what those mean for it.

/** Digests whose evidence is read at once. */
const CONCURRENCY = 8;

export interface RepositoryEvidence {
  /** Every evidence found, of every digest. */
  readonly found: readonly FoundEvidence[];
  /** Evidence that is attached but not valid, with the digest it is attached to. */
  readonly problems: readonly (EvidenceProblem & { readonly subject: Digest })[];
  /** Digests whose evidence could not be read (the registry failed to answer), with why. */
  readonly failures: readonly { readonly subject: Digest; readonly message: string }[];
  readonly subjects: RepositorySubjects;
}

export async function repositoryEvidence(
  client: RegistryClient,
  repository: string,
  options: { readonly exclude?: Digest } = {},
): Promise<RepositoryEvidence> {
  const subjects = await repositorySubjects(client, repository);
  const found: FoundEvidence[] = [];
  const problems: (EvidenceProblem & { subject: Digest })[] = [];
  const failures: { subject: Digest; message: string }[] = [];
  const digests = subjects.digests.filter((digest) => digest !== options.exclude);
  await runPool(digests, CONCURRENCY, async (subject) => {
    try {
      const search = await findEvidence(client, repository, subject, subjects.referrers);
      found.push(...search.found);
      problems.push(...search.problems.map((problem) => ({ ...problem, subject })));
    } catch (err) {
      failures.push({ subject, message: messageOf(err) });
    }
  });
  // Found in the order digests were listed, whatever order the reads finished in.
  const order = new Map(digests.map((digest, i) => [digest, i]));
  const byListing = (a: { subject: Digest }, b: { subject: Digest }): number =>
    order.get(a.subject)! - order.get(b.subject)!;
  found.sort((a, b) => byListing({ subject: a.evidence.subjectDigest }, { subject: b.evidence.subjectDigest }));
  problems.sort(byListing);
  failures.sort(byListing);
  return { found, problems, failures, subjects };
}
