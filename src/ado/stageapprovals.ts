import { DigestReleaseError } from '../errors';
import type { Approval } from './approvals';
import { parseApprovals } from './approvals';
import type { AzureDevOpsClient } from './devops-client';
import { parseTimeline, stageApprovals } from './timeline';

// Who approved the stage this job runs in. Checks are evaluated before a stage starts, so by the
// time a task runs its stage's approvals are final: read the timeline to find them, then the
// approvals API with their steps for the people.

export interface RunLocation {
  readonly buildId: number;
  /** System.JobId: the id of this job's timeline record. */
  readonly jobId?: string;
  /** System.StageName: the stage identifier, used when the job's record cannot be climbed. */
  readonly stageName?: string;
}

export interface StageApprovalResult {
  readonly stage: string;
  /** approved: every approval approved; none: the stage has no approval check. */
  readonly status: 'approved' | 'none' | 'notApproved';
  readonly approvals: readonly Approval[];
}

export async function readStageApprovals(client: AzureDevOpsClient, run: RunLocation): Promise<StageApprovalResult> {
  const records = parseTimeline(await client.get(`build/builds/${run.buildId}/timeline`));
  const { stage, approvalIds } = stageApprovals(records, run.jobId, run.stageName);
  const stageName = stage.identifier ?? stage.name ?? stage.id;
  if (approvalIds.length === 0) return { stage: stageName, status: 'none', approvals: [] };

  const approvals = parseApprovals(
    await client.get('pipelines/approvals', { approvalIds: approvalIds.join(','), $expand: 'steps' }),
  );
  const wanted = new Set(approvalIds);
  const found = approvals.filter((approval) => wanted.has(approval.id));
  const missing = approvalIds.filter((id) => !found.some((approval) => approval.id === id));
  if (missing.length > 0) {
    throw new DigestReleaseError(
      'AZURE_DEVOPS_ERROR',
      `Azure DevOps did not return the approval ${missing.join(', ')} that the timeline shows for stage ${stageName}.`,
    );
  }
  for (const approval of found) {
    if (approval.ownerRunId !== null && approval.ownerRunId !== run.buildId) {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `The approval ${approval.id} belongs to run ${approval.ownerRunId}, not to this run ${run.buildId}.`,
      );
    }
  }
  const status = found.every((approval) => approval.status.toLowerCase() === 'approved') ? 'approved' : 'notApproved';
  return { stage: stageName, status, approvals: found };
}
