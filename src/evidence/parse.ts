import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';
import type { Digest } from '../reference/digest';
import { isDigest, sha256Of } from '../reference/digest';
import type { LockState } from '../acr/locks';
import { LOCK_STATES } from '../acr/locks';
import type { ScanStatus } from './predicate';
import { PREDICATE_TYPE, SCAN_STATUSES, STATEMENT_TYPE } from './predicate';

// Evidence read back from a registry, checked field by field before anything acts on it. Only the
// facts that find, verify and rollback decide on are typed here; the bytes are kept whole.

export interface ReadEvidence {
  /** The sha256 of the statement bytes (what EVIDENCE_DIGEST was when it was written). */
  readonly digest: Digest;
  readonly bytes: Uint8Array;
  /** The digest the statement's subject names. */
  readonly subjectDigest: Digest;
  readonly registry: string;
  readonly repository: string;
  readonly environment: string | null;
  readonly scanStatus: ScanStatus;
  readonly lockState: LockState;
  readonly writtenAt: string;
  readonly rollbackDigest: string | null;
}

/**
 * Parses statement bytes; undefined when they are an in-toto statement of another predicate type
 * (a signature or an SBOM attached next to ours), an error when they claim to be ours and are not.
 */
export function parseEvidence(bytes: Uint8Array, where: string): ReadEvidence | undefined {
  const bad = (why: string) =>
    new DigestReleaseError('EVIDENCE_INVALID', `The evidence ${where} is malformed: ${why}.`);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw bad('it is not JSON');
  }
  if (!isRecord(doc)) throw bad('it is not a JSON object');
  if (doc.predicateType !== PREDICATE_TYPE) return undefined;
  if (doc._type !== STATEMENT_TYPE) throw bad(`"_type" is ${JSON.stringify(doc._type)}, not ${STATEMENT_TYPE}`);
  const subjects = doc.subject;
  if (!Array.isArray(subjects) || subjects.length !== 1) throw bad('it must name exactly one subject');
  const subject: unknown = subjects[0];
  if (!isRecord(subject) || !isRecord(subject.digest) || typeof subject.digest.sha256 !== 'string')
    throw bad('the subject has no sha256 digest');
  const subjectDigest = `sha256:${subject.digest.sha256}`;
  if (!isDigest(subjectDigest))
    throw bad(`the subject's sha256 "${subject.digest.sha256}" is not 64 lowercase hex characters`);

  const predicate = doc.predicate;
  if (!isRecord(predicate)) throw bad('it has no predicate object');
  const image = predicate.image;
  if (!isRecord(image)) throw bad('the predicate has no image');
  const registry = requireString(image.registry, 'image.registry', bad);
  const repository = requireString(image.repository, 'image.repository', bad);
  const imageDigest = requireString(image.digest, 'image.digest', bad);
  if (imageDigest !== subjectDigest)
    throw bad(`the predicate's image.digest ${imageDigest} is not the subject ${subjectDigest}`);
  const environment = predicate.environment;
  if (environment !== null && typeof environment !== 'string') throw bad('environment is neither a string nor null');
  const scan = predicate.scan;
  if (!isRecord(scan) || !isOneOf(scan.status, SCAN_STATUSES))
    throw bad(`scan.status is not one of ${SCAN_STATUSES.join(', ')}`);
  const lock = predicate.lock;
  if (!isRecord(lock) || !isOneOf(lock.state, LOCK_STATES))
    throw bad(`lock.state is not one of ${LOCK_STATES.join(', ')}`);
  const writtenAt = requireString(predicate.writtenAt, 'writtenAt', bad);
  if (Number.isNaN(Date.parse(writtenAt))) throw bad(`writtenAt "${writtenAt}" is not a time`);
  const rollback = predicate.rollback;
  const rollbackDigest =
    isRecord(rollback) && typeof rollback.digest === 'string' && isDigest(rollback.digest) ? rollback.digest : null;

  return {
    digest: sha256Of(bytes),
    bytes,
    subjectDigest,
    registry,
    repository,
    environment,
    scanStatus: scan.status,
    lockState: lock.state,
    writtenAt,
    rollbackDigest,
  };
}

function requireString(value: unknown, field: string, bad: (why: string) => DigestReleaseError): string {
  if (typeof value !== 'string' || value === '') throw bad(`${field} is not a string`);
  return value;
}

function isOneOf<T extends string>(value: unknown, allowed: readonly T[]): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}
