import { LockAction, LockOutcome, LockRequest, applyLock, unsupported } from '../../acr/locks';
import { ConnectionInputs } from '../../connection/credentials';
import { parseDigest } from '../../reference/digest';
import { formatReference, parseReference, withDefaultTag } from '../../reference/reference';
import { TaskContext } from '../agent';
import { readConnectionInputs, registryClientFor } from '../connection';
import { markdownTable } from '../summary';

// DigestLock@1: lock (or unlock) the released manifest and tag in Azure Container Registry, after
// checking the tag still points at the expected digest, and say plainly whether the lock holds.

export interface LockInputs {
  readonly request: LockRequest;
  readonly failOnUnsupported: boolean;
  readonly connection: ConnectionInputs;
}

const ACTIONS: readonly LockAction[] = ['lock', 'unlock'];

export function readLockInputs(context: TaskContext): LockInputs {
  const image = parseReference(context.requiredInput('image', 'myacr.azurecr.io/app:$(Build.BuildId)'), 'input image');
  const expected = context.input('expectedDigest');
  const action = context.choiceInput('action', ACTIONS, 'lock');
  return {
    request: {
      image: withDefaultTag(image),
      ...(expected ? { expectedDigest: parseDigest(expected, 'input expectedDigest') } : {}),
      action,
      lockManifest: context.booleanInput('lockManifest', true),
      lockTag: context.booleanInput('lockTag', true),
      deleteEnabled: context.booleanInput('deleteEnabled', false),
    },
    failOnUnsupported: context.booleanInput('failOnUnsupported', true),
    connection: readConnectionInputs(context),
  };
}

export async function lockTask(context: TaskContext): Promise<string> {
  const inputs = readLockInputs(context);
  const { request } = inputs;
  const client = registryClientFor(context, request.image, inputs.connection, 'digest-release DigestLock/1');
  const where = formatReference({ ...request.image, digest: undefined });
  const outcome = await applyLock(request, client);
  if (!outcome.supported) {
    const err = unsupported(request.image.registry);
    if (inputs.failOnUnsupported) throw err;
    context.warning(`${err.message} (failOnUnsupported is false: going on without a lock.)`);
    context.setOutput('IMAGE_DIGEST', outcome.digest);
    context.setOutput('IMAGE_LOCKED', 'false');
    return `${where} is ${outcome.digest}; it is NOT locked: ${request.image.registry} is not an Azure Container Registry.`;
  }
  context.setOutput('IMAGE_DIGEST', outcome.digest);
  context.setOutput('IMAGE_LOCKED', outcome.locked ? 'true' : 'false');
  context.uploadSummary('DigestLock', lockSummary(where, request, outcome));
  const what = [request.lockTag ? 'tag' : '', request.lockManifest ? 'manifest' : ''].filter((part) => part).join(' and ');
  const state = request.action === 'lock' ? `locked (writeEnabled=false, deleteEnabled=${request.deleteEnabled})` : 'unlocked (writeEnabled=true, deleteEnabled=true)';
  if (outcome.unchanged) return `${where} (${outcome.digest}) was already ${state}: the ${what} read back as asked; nothing was changed.`;
  return `${where} (${outcome.digest}): the ${what} ${request.lockTag && request.lockManifest ? 'are' : 'is'} now ${state}, read back from the registry.`;
}

function lockSummary(where: string, request: LockRequest, outcome: LockOutcome): string {
  const row = (name: string, attributes: LockOutcome['tag']): string[] =>
    attributes ? [name, String(attributes.writeEnabled), String(attributes.deleteEnabled)] : [name, '(not asked)', '(not asked)'];
  return (
    `### Image ${request.action === 'lock' ? 'locked' : 'unlocked'}${outcome.unchanged ? ' (already so)' : ''}\n\n` +
    `\`${where}\` is \`${outcome.digest}\`\n\n` +
    markdownTable(['', 'writeEnabled', 'deleteEnabled'], [row('Tag', outcome.tag), row('Manifest', outcome.manifest)])
  );
}
