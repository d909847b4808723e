import { DigestReleaseError } from '../errors';
import { Digest, isDigest } from '../reference/digest';
import { HttpResponse } from '../http/request';

// The Docker-Content-Digest header is what the registry claims an answer is; it is checked against
// what we know (the digest asked for, or the hash of the bytes) and never taken on trust.

export interface ClaimedDigestCheck {
  /** The digest the header must name; undefined when any digest will do (a HEAD by tag). */
  readonly expected: Digest | undefined;
  /** The message of the DIGEST_MISMATCH error when the header names another digest. */
  readonly mismatch: (claimed: string) => string;
  /** When set, the header must be there and be a digest; the message of the REGISTRY_ERROR otherwise. */
  readonly missing?: (claimed: string | undefined) => string;
}

/** Checks the header of `response`; answers the digest it names (undefined when it names none). */
export function checkClaimedDigest(response: Pick<HttpResponse, 'headers'>, check: ClaimedDigestCheck & Required<Pick<ClaimedDigestCheck, 'missing'>>): Digest;
export function checkClaimedDigest(response: Pick<HttpResponse, 'headers'>, check: ClaimedDigestCheck): Digest | undefined;
export function checkClaimedDigest(response: Pick<HttpResponse, 'headers'>, check: ClaimedDigestCheck): Digest | undefined {
  const claimed = response.headers.get('docker-content-digest')?.trim() || undefined;
  if (check.missing && (claimed === undefined || !isDigest(claimed))) throw new DigestReleaseError('REGISTRY_ERROR', check.missing(claimed));
  if (claimed === undefined) return undefined;
  if (check.expected !== undefined && claimed !== check.expected) throw new DigestReleaseError('DIGEST_MISMATCH', check.mismatch(claimed));
  return isDigest(claimed) ? claimed : undefined;
}
