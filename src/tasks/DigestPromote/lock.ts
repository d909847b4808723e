import { lockPromoted, requireLockableTarget as requireLockable } from '../../acr/locks';
import type { Digest } from '../../reference/digest';
import type { RegistryClient } from '../../registry/client';

// lockAfterPromote: the lock of DigestLock@1 on what was just promoted, done by acr/locks.ts
// (lockPromoted: the manifest and every tag asked for by name, semantic-version tags left free).

const NOT_PROMOTED = 'then remove lockAfterPromote from this DigestPromote@1 step. Nothing was promoted.';

/** Before anything moves: the target must be an ACR, or the promotion would end unlockable. */
export async function requireLockableTarget(target: RegistryClient, repository: string, digest: Digest): Promise<void> {
  await requireLockable(target, repository, digest, NOT_PROMOTED);
}

export { lockPromoted };
