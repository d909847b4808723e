import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import { canonicalBytes } from './canonical';
import type { EvidencePredicate } from './predicate';
import { PREDICATE_TYPE, STATEMENT_TYPE } from './predicate';

// An in-toto Statement v1 around the predicate: the subject is the image by name and sha256.

export type EvidenceStatement = {
  readonly _type: typeof STATEMENT_TYPE;
  readonly subject: readonly [{ readonly name: string; readonly digest: { readonly sha256: string } }];
  readonly predicateType: typeof PREDICATE_TYPE;
  readonly predicate: EvidencePredicate;
};

export interface SerialisedEvidence {
  readonly statement: EvidenceStatement;
  /** The canonical bytes: what is written to EVIDENCE_PATH and attached to the image. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The sha256 of `bytes`: EVIDENCE_DIGEST. */
  readonly digest: Digest;
}

export function makeStatement(predicate: EvidencePredicate): EvidenceStatement {
  const hex = predicate.image.digest.slice('sha256:'.length);
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `${predicate.image.registry}/${predicate.image.repository}`, digest: { sha256: hex } }],
    predicateType: PREDICATE_TYPE,
    predicate,
  };
}

export function serialiseEvidence(predicate: EvidencePredicate): SerialisedEvidence {
  const statement = makeStatement(predicate);
  const bytes = canonicalBytes(statement);
  return { statement, bytes, digest: sha256Of(bytes) };
}
