import { applyLock, unsupported } from '../../acr/locks';
import { formatReference } from '../../reference/reference';
import type { TaskContext } from '../context';
import { registryClientFor } from '../connection';
import { readLockInputs } from './inputs';
import { lockSummary } from './summary';

// DigestLock@1: lock (or unlock) the released manifest and tag in Azure Container Registry, after
// checking the tag still points at the expected digest, and say plainly whether the lock holds.

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
  const what = [request.lockTag ? 'tag' : '', request.lockManifest ? 'manifest' : '']
    .filter((part) => part)
    .join(' and ');
  const state =
    request.action === 'lock'
      ? `locked (writeEnabled=false, deleteEnabled=${request.deleteEnabled})`
      : 'unlocked (writeEnabled=true, deleteEnabled=true)';
  if (outcome.unchanged)
    return `${where} (${outcome.digest}) was already ${state}: the ${what} read back as asked; nothing was changed.`;
  return `${where} (${outcome.digest}): the ${what} ${request.lockTag && request.lockManifest ? 'are' : 'is'} now ${state}, read back from the registry.`;
}
