import type { AzureDevOpsClient } from '../ado/devops-client';
import type { RunLocation } from '../ado/stageapprovals';
import { readStageApprovals } from '../ado/stageapprovals';
import { messageOf } from '../errors';
import type { ApprovalFacts, Approver } from './predicate';

// The approval facts of the evidence: read from Azure DevOps (approver auto), or given. When they
// cannot be read the evidence says so and why; it never names someone who did not approve.

export function givenApprover(name: string): ApprovalFacts {
  return {
    source: 'input',
    status: 'given',
    reason: null,
    approvers: [{ name, uniqueName: null, id: null, approvedAt: null, comment: null, approvalId: null }],
  };
}

export function unavailableApproval(reason: string): ApprovalFacts {
  return { source: 'azureDevOps', status: 'unavailable', reason, approvers: [] };
}

export async function approvalFromAzureDevOps(client: AzureDevOpsClient, run: RunLocation): Promise<ApprovalFacts> {
  let result;
  try {
    result = await readStageApprovals(client, run);
  } catch (err) {
    return unavailableApproval(messageOf(err));
  }
  if (result.status === 'none') {
    return {
      source: 'azureDevOps',
      status: 'notRequired',
      reason: `Stage ${result.stage} has no approval check.`,
      approvers: [],
    };
  }
  const approvers: Approver[] = [];
  for (const approval of result.approvals) {
    for (const step of approval.steps) {
      if (step.status.toLowerCase() !== 'approved' || step.actualApprover === null) continue;
      approvers.push({
        name: step.actualApprover.displayName,
        uniqueName: step.actualApprover.uniqueName,
        id: step.actualApprover.id,
        approvedAt: step.lastModifiedOn,
        comment: step.comment,
        approvalId: approval.id,
      });
    }
  }
  if (result.status === 'notApproved') {
    const states = result.approvals.map((approval) => `${approval.id} is ${approval.status}`).join('; ');
    return { source: 'azureDevOps', status: 'notApproved', reason: `Stage ${result.stage}: ${states}.`, approvers };
  }
  return { source: 'azureDevOps', status: 'approved', reason: null, approvers };
}
