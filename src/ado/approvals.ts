import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';

// Pipeline approvals (`_apis/pipelines/approvals?$expand=steps`): who was asked, who acted, when.

export interface Identity {
  readonly displayName: string;
  readonly uniqueName: string | null;
  readonly id: string | null;
}

export interface ApprovalStep {
  readonly status: string;
  readonly assignedApprover: Identity | null;
  readonly actualApprover: Identity | null;
  readonly comment: string | null;
  readonly lastModifiedOn: string | null;
}

export interface Approval {
  readonly id: string;
  readonly status: string;
  readonly minRequiredApprovers: number | null;
  readonly steps: readonly ApprovalStep[];
  /** `pipeline.owner.id`: the run the approval belongs to, when the service says so. */
  readonly ownerRunId: number | null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function identity(value: unknown): Identity | null {
  if (!isRecord(value) || typeof value.displayName !== 'string') return null;
  return { displayName: value.displayName, uniqueName: text(value.uniqueName), id: text(value.id) };
}

export function parseApprovals(body: unknown): Approval[] {
  if (!isRecord(body) || !Array.isArray(body.value)) {
    throw new DigestReleaseError(
      'AZURE_DEVOPS_ERROR',
      'Azure DevOps answered the approvals request without a "value" list.',
    );
  }
  const approvals: Approval[] = [];
  for (const raw of body.value) {
    if (!isRecord(raw) || typeof raw.id !== 'string' || typeof raw.status !== 'string') {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        'Azure DevOps answered the approvals request with an approval that has no id or status.',
      );
    }
    const steps = Array.isArray(raw.steps) ? raw.steps.filter(isRecord) : [];
    const owner = isRecord(raw.pipeline) && isRecord(raw.pipeline.owner) ? raw.pipeline.owner.id : undefined;
    approvals.push({
      id: raw.id.toLowerCase(),
      status: raw.status,
      minRequiredApprovers: typeof raw.minRequiredApprovers === 'number' ? raw.minRequiredApprovers : null,
      ownerRunId:
        typeof owner === 'number' ? owner : typeof owner === 'string' && /^\d+$/.test(owner) ? Number(owner) : null,
      steps: steps.map((step) => ({
        status: typeof step.status === 'string' ? step.status : 'unknown',
        assignedApprover: identity(step.assignedApprover),
        actualApprover: identity(step.actualApprover),
        comment: text(step.comment),
        lastModifiedOn: text(step.lastModifiedOn),
      })),
    });
  }
  return approvals;
}
