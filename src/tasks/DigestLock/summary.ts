import type { LockOutcome, LockRequest } from '../../acr/locks';
import { markdownTable } from '../markdown';

// The build summary of a lock: the digest, and the attributes read back from the registry.

export function lockSummary(where: string, request: LockRequest, outcome: LockOutcome): string {
  const row = (name: string, attributes: LockOutcome['tag']): string[] =>
    attributes
      ? [name, String(attributes.writeEnabled), String(attributes.deleteEnabled)]
      : [name, '(not asked)', '(not asked)'];
  return (
    `### Image ${request.action === 'lock' ? 'locked' : 'unlocked'}${outcome.unchanged ? ' (already so)' : ''}\n\n` +
    `\`${where}\` is \`${outcome.digest}\`\n\n` +
    markdownTable(['', 'writeEnabled', 'deleteEnabled'], [row('Tag', outcome.tag), row('Manifest', outcome.manifest)])
  );
}
