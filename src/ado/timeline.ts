import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';

// The build timeline, read only as far as it leads from the current job to its stage's approval
// checkpoints: Job (id = System.JobId) -> Phase -> Stage, then Stage -> Checkpoint ->
// Checkpoint.Approval, whose id is the approval id.

export interface TimelineRecord {
  readonly id: string;
  readonly parentId: string | null;
  readonly type: string;
  readonly identifier: string | null;
  readonly name: string | null;
}

export function parseTimeline(body: unknown): TimelineRecord[] {
  if (!isRecord(body) || !Array.isArray(body.records)) {
    throw new DigestReleaseError(
      'AZURE_DEVOPS_ERROR',
      'Azure DevOps answered the build timeline request without a "records" list.',
    );
  }
  const records: TimelineRecord[] = [];
  for (const raw of body.records) {
    // A record without an id or type cannot be part of the chain; skip it rather than guess.
    if (!isRecord(raw) || typeof raw.id !== 'string' || typeof raw.type !== 'string') continue;
    records.push({
      id: raw.id.toLowerCase(),
      parentId: typeof raw.parentId === 'string' ? raw.parentId.toLowerCase() : null,
      type: raw.type,
      identifier: typeof raw.identifier === 'string' ? raw.identifier : null,
      name: typeof raw.name === 'string' ? raw.name : null,
    });
  }
  return records;
}

export interface StageApprovals {
  readonly stage: TimelineRecord;
  /** Ids of the Checkpoint.Approval records under the stage's checkpoints; empty when none. */
  readonly approvalIds: readonly string[];
}

/**
 * Finds the stage of the job `jobId` (falling back to the stage whose identifier is `stageName`)
 * and the approvals that gated it. An approval of another stage is never picked up.
 */
export function stageApprovals(
  records: readonly TimelineRecord[],
  jobId: string | undefined,
  stageName: string | undefined,
): StageApprovals {
  const byId = new Map(records.map((record) => [record.id, record]));
  let stage: TimelineRecord | undefined;
  if (jobId !== undefined) {
    let current = byId.get(jobId.toLowerCase());
    const seen = new Set<string>();
    while (current !== undefined && current.type !== 'Stage' && current.parentId !== null && !seen.has(current.id)) {
      seen.add(current.id);
      current = byId.get(current.parentId);
    }
    if (current?.type === 'Stage') stage = current;
  }
  if (stage === undefined && stageName !== undefined) {
    const matches = records.filter((record) => record.type === 'Stage' && record.identifier === stageName);
    if (matches.length === 1) stage = matches[0];
  }
  if (stage === undefined) {
    const job = jobId === undefined ? 'no System.JobId' : `job ${jobId}`;
    throw new DigestReleaseError(
      'AZURE_DEVOPS_ERROR',
      `The build timeline has no stage for ${job}${stageName ? ` or stage ${stageName}` : ''}, so the stage's approvals cannot be found.`,
    );
  }
  const checkpoints = new Set(
    records.filter((record) => record.type === 'Checkpoint' && record.parentId === stage.id).map((record) => record.id),
  );
  const approvalIds = records
    .filter(
      (record) => record.type === 'Checkpoint.Approval' && record.parentId !== null && checkpoints.has(record.parentId),
    )
    .map((record) => record.id);
  return { stage, approvalIds };
}
