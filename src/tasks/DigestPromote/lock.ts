import { isAcr } from '../../acr/detect';
import { LockOutcome, LockRequest, applyLock, unsupported } from '../../acr/lock';
import { ChangeableAttributes } from '../../acr/properties';
import { DigestReleaseError, withMore } from '../../errors';
import { Digest } from '../../reference/digest';
import { ImageReference, formatReference } from '../../reference/reference';
import { RegistryClient } from '../../registry/client';

// lockAfterPromote: the lock of DigestLock@1 on what was just promoted. The manifest and every tag
// asked for by name (target's tag, additionalTags) are locked with writeEnabled=false and
// deleteEnabled=false and read back. Semantic-version tags (1.4, 1) float to the newest release by
// design, so they are not locked: a lock on them would fail the next promotion of that line.

const NOT_PROMOTED = 'then remove lockAfterPromote from this DigestPromote@1 step. Nothing was promoted.';

/** Before anything moves: the target must be an ACR, or the promotion would end unlockable. */
export async function requireLockableTarget(target: RegistryClient, repository: string, digest: Digest): Promise<void> {
  if (!(await isAcr(target, repository, digest))) throw unsupported(target.registry, NOT_PROMOTED);
}

export interface PromotedLock {
  /** The tags locked, each read back as writeEnabled=false, deleteEnabled=false on the digest. */
  readonly tags: readonly string[];
  readonly manifest: ChangeableAttributes;
}

export async function lockPromoted(target: RegistryClient, image: ImageReference, digest: Digest, tags: readonly string[]): Promise<PromotedLock> {
  const base = { expectedDigest: digest, action: 'lock' as const, deleteEnabled: false };
  const requests: LockRequest[] =
    tags.length === 0
      ? [{ ...base, image: { registry: image.registry, repository: image.repository, digest }, lockManifest: true, lockTag: false }]
      : tags.map((tag, i) => ({ ...base, image: { registry: image.registry, repository: image.repository, tag }, lockManifest: i === 0, lockTag: true }));
  const locked: string[] = [];
  let manifest: ChangeableAttributes | undefined;
  for (const request of requests) {
    let outcome: LockOutcome;
    try {
      outcome = await applyLock(request, target);
    } catch (err) {
      // The promotion is done; what of its lock took before this failure is said with it.
      const before = [...(manifest ? [`the manifest ${digest}`] : []), ...locked.map((tag) => `the tag ${tag}`)];
      throw withMore(
        err,
        `The image was promoted (${formatReference({ ...image, tag: undefined, digest })}${tags.length > 0 ? `, tagged ${tags.join(', ')}` : ''})${before.length > 0 ? `, and ${before.join(' and ')} ${before.length === 1 ? 'was' : 'were'} locked before this failure` : ''}. ` +
          'A rerun of this step copies nothing again and locks what is not locked yet.',
      );
    }
    if (!outcome.supported) throw unsupported(target.registry, 'the image was promoted, but it is not locked.');
    if (!outcome.locked) {
      throw new DigestReleaseError('LOCK_NOT_APPLIED', `The lock of ${formatReference(request.image)} after the promotion did not take. The image was promoted, but it is not locked; run DigestLock@1 on it, or this task again.`);
    }
    if (outcome.manifest) manifest = outcome.manifest;
    if (request.lockTag && request.image.tag !== undefined) locked.push(request.image.tag);
  }
  if (!manifest) throw new DigestReleaseError('LOCK_NOT_APPLIED', `The manifest ${digest} was not read back after the lock. The image was promoted, but its lock is not confirmed.`);
  return { tags: locked, manifest };
}
