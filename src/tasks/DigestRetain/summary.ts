import type {
  EnvironmentInventory,
  KeepDecision,
  KeepReason,
  ReleasedDigest,
  RetentionPolicy,
} from '../../retain/decide';
import type { ProtectOutcome } from '../../retain/protect';
import { inlineCode, markdownTable } from '../markdown';

// The build summary of DigestRetain@1: what runs where, and what a rollback would go to, per
// environment; which digests a clean-up must leave and why; and, with protect, what is locked.

/** `sha256:` and the first 12 hex characters: enough to tell digests apart on a page. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

const code = inlineCode;

export function reasonText(reason: KeepReason, policy: RetentionPolicy): string {
  switch (reason) {
    case 'current':
      return 'current';
    case 'withinReleases':
      return `one of the last ${policy.keepReleases} releases`;
    case 'withinDays':
      return `released within ${policy.keepDays} days`;
    case 'rollbackTarget':
      return 'rollback target';
    case 'evidenceUnreadable':
      return 'its evidence cannot be read';
  }
}

function role(env: EnvironmentInventory, row: ReleasedDigest): string {
  if (row.digest === env.current) return '**current**';
  if (row.rollbackTargetOf.length > 0) return `rollback target of ${row.rollbackTargetOf.map(shortDigest).join(', ')}`;
  return 'earlier release';
}

function released(row: ReleasedDigest): string {
  const when = `${row.releasedAt.slice(0, 16).replace('T', ' ')} UTC`;
  return row.times > 1 ? `${when} (${row.times} times)` : when;
}

function environmentSection(env: EnvironmentInventory, policy: RetentionPolicy): string {
  const rollback = env.rollbackTarget === null ? 'none named in its evidence' : code(shortDigest(env.rollbackTarget));
  const rows = env.released.map((row) => [
    code(shortDigest(row.digest)),
    role(env, row),
    released(row),
    `${row.ageDays} d`,
    row.scanStatus,
    row.reasons.length > 0 ? `kept: ${row.reasons.map((r) => reasonText(r, policy)).join(', ')}` : 'not kept',
    code(shortDigest(row.evidence)),
  ]);
  for (const target of env.targetsOnly) {
    rows.push([
      code(shortDigest(target.digest)),
      `rollback target of ${target.rollbackTargetOf.map(shortDigest).join(', ')}`,
      'never released here',
      '',
      '',
      'kept: rollback target',
      '',
    ]);
  }
  return (
    `#### ${env.environment}\n\n` +
    `Runs ${code(shortDigest(env.current))}; a rollback goes to ${rollback}.\n\n` +
    markdownTable(['Digest', 'Role', 'Released', 'Age', 'Scan', 'Retention', 'Evidence'], rows)
  );
}

export interface RetainSummaryFacts {
  readonly repository: string;
  readonly policy: RetentionPolicy;
  readonly decision: KeepDecision;
  readonly missing: readonly string[];
  readonly problems: readonly { readonly digest: string; readonly message: string }[];
  readonly protection?: ProtectOutcome;
  /** Why protect did nothing (not an ACR), with failOnUnsupported false. */
  readonly protectSkipped?: string;
  readonly keepListPath: string;
}

export function retainSummary(facts: RetainSummaryFacts): string {
  const { policy, decision, protection } = facts;
  const environments = decision.environments.length;
  const window = `the last ${policy.keepReleases} release${policy.keepReleases === 1 ? '' : 's'}${policy.keepDays > 0 ? ` and every release of the last ${policy.keepDays} days` : ''}${policy.keepRollbackTargets ? ', and their rollback targets' : ''}`;
  let text =
    `### Release inventory of ${code(facts.repository)}\n\n` +
    `**${decision.digests.length}** digest${decision.digests.length === 1 ? '' : 's'} kept for ${environments} environment${environments === 1 ? '' : 's'}: per environment ${window}. ` +
    `Keep list: ${code(facts.keepListPath)}\n\n`;
  if (protection) {
    const total = protection.protectedNow.length + protection.already.length;
    const others = protection.already.filter((a) => a.holder === 'someoneElse').length;
    text +=
      `**Protected:** ${total} manifest${total === 1 ? '' : 's'} (the kept digests, their platforms and evidence) cannot be deleted (deleteEnabled=false, read back): ` +
      `${protection.protectedNow.length} by this run, ${protection.already.length - others} by DigestRetain before, ${others} locked by someone else (never undone here). ` +
      `**Released:** ${protection.released.length}.` +
      (protection.held.length > 0
        ? ` Still protected for other environments or by hand: ${protection.held.length}.`
        : '') +
      '\n\n';
  } else if (facts.protectSkipped) {
    text += `**Not protected:** ${facts.protectSkipped}\n\n`;
  }
  if (decision.environments.length === 0) text += 'No release evidence was found.\n\n';
  text += decision.environments.map((env) => environmentSection(env, policy)).join('\n');
  const notes: string[] = [];
  for (const name of decision.unknownEnvironments) notes.push(`No evidence names the environment ${code(name)}.`);
  for (const digest of facts.missing)
    notes.push(`${code(shortDigest(digest))} is kept but the repository no longer has it.`);
  for (const problem of facts.problems)
    notes.push(`${code(shortDigest(problem.digest))} is kept because its evidence cannot be read: ${problem.message}`);
  if (notes.length > 0) text += `\n#### Look into\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
  return text;
}
