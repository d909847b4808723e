import type { LockFacts } from '../acr/locks';

// The release evidence predicate: the facts about one digest's release that a release manager
// approves and an auditor checks later. Its JSON Schema is schemas/evidence-predicate.schema.json;
// a change here is a change there and, if it is not additive, a new predicate type (v2).

/** The predicate type URI; stable for version 1 of the predicate. */
export const PREDICATE_TYPE = 'https://digest-release.dev/attestation/release-evidence/v1';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** The media type of an in-toto Statement, and the artifactType of the OCI artifact that carries it. */
export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';

export const SCAN_STATUSES = ['passed', 'warned', 'failed', 'unknown'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

export type ImageFacts = {
  readonly registry: string;
  readonly repository: string;
  /** The tag the image input named next to the digest; null when it named only the digest. */
  readonly tag: string | null;
  readonly digest: string;
  readonly mediaType: string;
  /** `os/arch[/variant]` to digest for an index; empty for a single manifest. */
  readonly platforms: { readonly [platform: string]: string };
};

export type RunFacts = {
  readonly collectionUri: string | null;
  readonly organization: string | null;
  readonly project: { readonly id: string | null; readonly name: string | null };
  readonly definition: { readonly id: number | null; readonly name: string | null };
  readonly id: number | null;
  readonly number: string | null;
  readonly url: string | null;
  readonly stage: string | null;
  readonly stageAttempt: number | null;
  readonly job: string | null;
  readonly repository: { readonly uri: string | null; readonly name: string | null; readonly provider: string | null };
  readonly commit: string | null;
  readonly branch: string | null;
};

export type ScanFacts = {
  readonly status: ScanStatus;
  /** The report file's name (not its path on the agent) and the sha256 of its bytes. */
  readonly report: { readonly name: string; readonly sha256: string } | null;
};

export type Approver = {
  readonly name: string;
  readonly uniqueName: string | null;
  readonly id: string | null;
  /** When this person approved; null when the approver was given as an input. */
  readonly approvedAt: string | null;
  readonly comment: string | null;
  /** The Azure DevOps approval this step belongs to. */
  readonly approvalId: string | null;
};

export type ApprovalStatus =
  /** Azure DevOps says the stage's approvals were approved; approvers lists who. */
  | 'approved'
  /** The stage has no approval check: nobody had to approve. */
  | 'notRequired'
  /** An approval of the stage is not approved (pending, rejected, timed out). */
  | 'notApproved'
  /** The approver was given as a task input, not read from Azure DevOps. */
  | 'given'
  /** The approvals could not be read; reason says why. */
  | 'unavailable';

export type ApprovalFacts = {
  readonly source: 'azureDevOps' | 'input';
  readonly status: ApprovalStatus;
  readonly reason: string | null;
  readonly approvers: readonly Approver[];
};

export type RollbackFacts = {
  readonly digest: string | null;
  readonly source: 'input' | 'auto' | 'none';
  /** With source auto: the EVIDENCE_DIGEST of the earlier evidence the digest was taken from. */
  readonly evidence: string | null;
  readonly reason: string | null;
};

export type EvidencePredicate = {
  readonly image: ImageFacts;
  readonly environment: string | null;
  readonly run: RunFacts;
  readonly scan: ScanFacts;
  readonly approval: ApprovalFacts;
  readonly rollback: RollbackFacts;
  readonly lock: LockFacts;
  /** UTC, ISO 8601 with milliseconds. */
  readonly writtenAt: string;
  readonly writer: { readonly name: string; readonly version: string };
};
