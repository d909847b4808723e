import { DigestReleaseError, isDigestReleaseError, messageOf } from '../errors';
import type { Digest } from '../reference/digest';
import { readSmallBlob } from '../registry/blobs';
import type { RegistryClient } from '../registry/client';
import type { Descriptor } from '../registry/manifest-parse';
import type { ReferrerSource } from '../registry/referrers';
import { listReferrers } from '../registry/referrers';
import { ANNOTATION } from './attach';
import type { ReadEvidence } from './parse';
import { parseEvidence } from './parse';
import { IN_TOTO_MEDIA_TYPE } from './predicate';

// Finds the release evidence attached to a digest: its referrers of artifactType in-toto, each
// manifest read verified, its statement layer read verified, and parsed. Evidence whose statement
// names another subject than the digest it is attached to is reported, never used.

/** An evidence statement is a few kilobytes; more is not ours. */
const MAX_STATEMENT_BYTES = 1024 * 1024;
/**
 * Referrers read per digest, the newest first (by their created annotation, which DigestEvidence
 * writes): a digest with more evidence than this is an anomaly, and the oldest are what is left out.
 */
const MAX_REFERRERS = 200;

export interface FoundEvidence {
  /** The digest of the evidence manifest (the referrer). */
  readonly manifest: Digest;
  readonly evidence: ReadEvidence;
}

export interface EvidenceProblem {
  readonly manifest: Digest;
  readonly code: 'EVIDENCE_INVALID';
  readonly message: string;
}

export interface EvidenceSearch {
  readonly found: readonly FoundEvidence[];
  readonly problems: readonly EvidenceProblem[];
}

/** `via` is how the repository's referrers are read, when the caller has found out once for many digests. */
export async function findEvidence(
  client: RegistryClient,
  repository: string,
  subject: Digest,
  via: ReferrerSource = 'auto',
): Promise<EvidenceSearch> {
  const referrers = await listReferrers(client, repository, subject, { artifactType: IN_TOTO_MEDIA_TYPE }, via);
  const found: FoundEvidence[] = [];
  const problems: EvidenceProblem[] = [];
  for (const referrer of newestFirst(referrers).slice(0, MAX_REFERRERS)) {
    const where = `${client.registry}/${repository}@${referrer.digest} (attached to ${subject})`;
    try {
      const evidence = await readEvidenceManifest(client, repository, referrer.digest, subject, where);
      if (evidence !== undefined) found.push({ manifest: referrer.digest, evidence });
    } catch (err) {
      if (!isDigestReleaseError(err, 'EVIDENCE_INVALID')) throw err;
      problems.push({ manifest: referrer.digest, code: 'EVIDENCE_INVALID', message: messageOf(err) });
    }
  }
  return { found, problems };
}

/** Referrers by their created annotation, newest first; those without one (not ours) last, in index order. */
function newestFirst(referrers: readonly Descriptor[]): Descriptor[] {
  const created = (d: Descriptor) => d.annotations?.[ANNOTATION.created] ?? '';
  return referrers
    .map((d, i) => ({ d, i }))
    .sort((a, b) => created(b.d).localeCompare(created(a.d)) || a.i - b.i)
    .map(({ d }) => d);
}

async function readEvidenceManifest(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  subject: Digest,
  where: string,
): Promise<ReadEvidence | undefined> {
  const { manifest } = await client.getManifest(repository, digest);
  if (manifest.kind !== 'image') return undefined;
  if (manifest.subject?.digest !== subject) {
    throw new DigestReleaseError(
      'EVIDENCE_INVALID',
      `The evidence ${where} is listed for ${subject} but its manifest's subject is ${manifest.subject?.digest ?? 'missing'}.`,
    );
  }
  const layer = manifest.layers.find((l) => l.mediaType === IN_TOTO_MEDIA_TYPE);
  if (layer === undefined) return undefined;
  // Read whole through the registry's retrying path, checked against the layer's digest and size.
  const bytes = await readSmallBlob(
    client,
    repository,
    layer,
    MAX_STATEMENT_BYTES,
    () =>
      new DigestReleaseError(
        'EVIDENCE_INVALID',
        `The evidence ${where} has a statement of more than evidence can be (1 MiB): ${layer.size} bytes declared.`,
      ),
  );
  const evidence = parseEvidence(bytes, where);
  if (evidence === undefined) return undefined;
  if (evidence.subjectDigest !== subject) {
    throw new DigestReleaseError(
      'EVIDENCE_INVALID',
      `The evidence ${where} is attached to ${subject} but its statement is about ${evidence.subjectDigest}: it does not describe this digest.`,
    );
  }
  return evidence;
}

/** The latest by writtenAt; ties broken by evidence digest so the choice is stable. */
export function latest(found: readonly FoundEvidence[]): FoundEvidence | undefined {
  return [...found].sort(
    (a, b) =>
      Date.parse(b.evidence.writtenAt) - Date.parse(a.evidence.writtenAt) ||
      (a.evidence.digest < b.evidence.digest ? -1 : 1),
  )[0];
}
