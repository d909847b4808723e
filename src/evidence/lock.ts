import { LockFacts } from './predicate';

// Lock state of the released manifest. Only Azure Container Registry has manifest locks
// (writeEnabled, deleteEnabled); reading them needs the ACR support, which this version lacks,
// so on ACR the state is recorded as unknown with the reason, never guessed.

const ACR_HOST = /\.azurecr\.(io|cn|us)$/i;

export function isAzureContainerRegistry(registry: string): boolean {
  return ACR_HOST.test(registry.replace(/:\d+$/, ''));
}

export const LOCK_NOT_READABLE =
  'reading the manifest lock properties of Azure Container Registry (writeEnabled, deleteEnabled) is not part of this version of DigestEvidence';

export function lockFacts(registry: string): LockFacts {
  if (isAzureContainerRegistry(registry)) {
    return { state: 'unknown', reason: `Not read: ${LOCK_NOT_READABLE}.`, writeEnabled: null, deleteEnabled: null };
  }
  return { state: 'notApplicable', reason: `${registry} is not Azure Container Registry and has no manifest locks.`, writeEnabled: null, deleteEnabled: null };
}
