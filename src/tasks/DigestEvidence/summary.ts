import type { LockFacts } from '../../acr/locks';
import type { EvidencePredicate } from '../../evidence/predicate';
import type { VerifiedEvidence } from '../../evidence/verify-evidence';
import { inlineCode, keyValueTable } from '../markdown';

// The build summary a release manager reads: one table, the digest first.

const code = inlineCode;

export function approverText(predicate: EvidencePredicate): string {
  const { approval } = predicate;
  const names = approval.approvers.map((a) => (a.approvedAt ? `${a.name} (${a.approvedAt})` : a.name)).join(', ');
  switch (approval.status) {
    case 'approved':
    case 'given':
      return names || '(none)';
    case 'notRequired':
      return 'no approval required';
    case 'notApproved':
      return `not approved: ${approval.reason ?? ''}`;
    case 'unavailable':
      return `unknown: ${approval.reason ?? ''}`;
  }
}

export function lockText(lock: LockFacts): string {
  if (lock.writeEnabled !== null && lock.deleteEnabled !== null)
    return `${lock.state} (writeEnabled=${lock.writeEnabled}, deleteEnabled=${lock.deleteEnabled})`;
  return lock.reason ? `${lock.state} (${lock.reason})` : lock.state;
}

export function rollbackText(predicate: EvidencePredicate): string {
  const { rollback } = predicate;
  if (rollback.digest !== null)
    return `${code(rollback.digest)}${rollback.source === 'auto' ? ' (previous release to this environment)' : ''}`;
  return rollback.reason ?? 'none';
}

export interface SummaryExtras {
  readonly evidenceDigest: string;
  readonly attachedAs?: string;
  readonly path: string;
  readonly heading: string;
}

export function evidenceSummary(predicate: EvidencePredicate, extras: SummaryExtras): string {
  const { image, scan } = predicate;
  const rows: [string, string][] = [
    ['Digest', code(`${image.registry}/${image.repository}@${image.digest}`)],
    ['Tag', image.tag === null ? '(none given)' : code(image.tag)],
    ['Environment', predicate.environment ?? '(none)'],
    [
      'Scan status',
      `**${scan.status}**${scan.report ? ` (report ${code(scan.report.name)}, sha256 ${scan.report.sha256.slice(0, 12)})` : ''}`,
    ],
    ['Approver', approverText(predicate)],
    ['Lock state', lockText(predicate.lock)],
    ['Rollback digest', rollbackText(predicate)],
    ['Evidence digest', code(extras.evidenceDigest)],
    ['Attached to the image', extras.attachedAs ? code(extras.attachedAs) : 'no'],
  ];
  return `### ${extras.heading}\n\n${keyValueTable(rows)}`;
}

/** The summary of mode verify: the evidence chosen for the digest, and its lock now and when recorded. */
export function verifiedSummary(ref: string, { chosen, lock }: VerifiedEvidence): string {
  const rows = [
    ['Digest', `\`${ref}\``],
    [
      'Evidence',
      `\`${chosen.evidence.digest}\` (manifest \`${chosen.manifest}\`), written ${chosen.evidence.writtenAt}`,
    ],
    ['Environment', chosen.evidence.environment ?? '(none)'],
    ['Scan status', `**${chosen.evidence.scanStatus}**`],
    ['Lock state now', lockText(lock)],
    ['Lock state when recorded', chosen.evidence.lockState],
    ['Rollback digest', chosen.evidence.rollbackDigest ? `\`${chosen.evidence.rollbackDigest}\`` : 'none'],
  ];
  return `### Release evidence verified\n\n${keyValueTable(rows)}`;
}
