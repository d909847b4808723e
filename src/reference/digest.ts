import { createHash } from 'node:crypto';
import { DigestReleaseError } from '../errors';

declare const digestBrand: unique symbol;
/** `sha256:` followed by 64 lowercase hex characters; made only by parseDigest or sha256Of. */
export type Digest = string & { readonly [digestBrand]: true };

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const ANY_ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses a digest, naming `what` (an input name, a header) in the error when it is not one. */
export function parseDigest(value: string, what = 'digest'): Digest {
  const text = value.trim();
  if (SHA256.test(text)) return text as Digest;
  let why: string;
  if (/^sha256:[a-fA-F0-9]{64}$/.test(text)) why = 'the hex part must be lowercase';
  else if (text.startsWith('sha256:'))
    why = `the hex part has ${text.length - 7} characters where 64 hex characters are needed`;
  else if (ANY_ALGORITHM.test(text)) why = `only sha256 digests are supported, not ${text.slice(0, text.indexOf(':'))}`;
  else if (/^[a-f0-9]{64}$/.test(text)) why = 'it lacks the "sha256:" prefix';
  else why = 'a digest is "sha256:" followed by 64 lowercase hex characters';
  throw new DigestReleaseError('INVALID_DIGEST', `The ${what} "${value}" is not a valid digest: ${why}.`);
}

export function isDigest(value: string): value is Digest {
  return SHA256.test(value);
}

export function sha256Of(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}
