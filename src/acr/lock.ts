import { DigestReleaseError, isDigestReleaseError, withMore } from '../errors';
import { Digest } from '../reference/digest';
import { ImageReference, formatReference } from '../reference/reference';
import { RegistryClient } from '../registry/client';
import { hasAcrHostName, isAcr } from './detect';
import {
  AttributePatch,
  ChangeableAttributes,
  ManifestProperties,
  TagProperties,
  getManifestProperties,
  getTagProperties,
  updateManifestProperties,
  updateTagProperties,
} from './properties';

// Locking an image in ACR: writeEnabled=false (and deleteEnabled as asked) on the manifest and on
// the tag, so nobody pushes other bytes under the released tag or deletes the released manifest.
// It changes nothing until the tag is known to point at the expected digest; it locks the tag
// first (which freezes what the tag points at) and checks the tag still points there; and it reads
// every property back, so a lock that did not take is an error, never a quiet success.

export type LockAction = 'lock' | 'unlock';

export interface LockRequest {
  readonly image: ImageReference;
  readonly expectedDigest?: Digest;
  readonly action: LockAction;
  readonly lockManifest: boolean;
  readonly lockTag: boolean;
  /** When locking: whether deletes stay allowed (writeEnabled=false blocks them anyway). */
  readonly deleteEnabled: boolean;
}

export interface LockOutcome {
  readonly digest: Digest;
  /** False for a registry that is not an ACR: nothing was locked, and the caller decides how bad that is. */
  readonly supported: boolean;
  /** True when, after the action, what was asked is write-locked. */
  readonly locked: boolean;
  /** Nothing needed changing: it was already as asked. */
  readonly unchanged: boolean;
  readonly tag?: ChangeableAttributes;
  readonly manifest?: ChangeableAttributes;
}

export function desiredAttributes(request: Pick<LockRequest, 'action' | 'deleteEnabled'>): AttributePatch {
  return request.action === 'lock' ? { writeEnabled: false, deleteEnabled: request.deleteEnabled } : { writeEnabled: true, deleteEnabled: true };
}

const matches = (attributes: ChangeableAttributes, want: AttributePatch): boolean =>
  attributes.writeEnabled === want.writeEnabled && attributes.deleteEnabled === want.deleteEnabled;

export async function applyLock(request: LockRequest, client: RegistryClient): Promise<LockOutcome> {
  const { image } = request;
  const repository = image.repository;
  if (!request.lockManifest && !request.lockTag) {
    throw new DigestReleaseError('INVALID_INPUT', 'The inputs lockManifest and lockTag are both false, so there is nothing to lock. Set one of them (both, usually) to true.');
  }
  if (request.lockTag && image.tag === undefined) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The input image has the value "${formatReference(image)}", which has no tag, and lockTag is true. Give the tag (registry/repository:tag), or set lockTag: false to lock the manifest only.`,
    );
  }

  // 1. What does the tag point at now, and is it what was released?
  const resolved = await client.getManifest(repository, image.tag ?? image.digest!);
  const digest = resolved.digest;
  const expected = request.expectedDigest ?? image.digest;
  const where = formatReference({ ...image, digest: undefined });
  if (expected !== undefined && expected !== digest) {
    throw new DigestReleaseError(
      'EXPECTED_DIGEST_MISMATCH',
      `The registry holds ${digest} under ${where}, but the expected digest is ${expected}. Nothing was ${request.action === 'lock' ? 'locked' : 'unlocked'}. ` +
        'The tag was moved after it was captured: find out who pushed over it before releasing anything under it.',
    );
  }

  // 2. Only ACR has these locks.
  if (!(await isAcr(client, repository, digest))) return { digest, supported: false, locked: false, unchanged: true };

  const want = desiredAttributes(request);
  const tag = image.tag;
  const before = {
    tag: request.lockTag && tag !== undefined ? await getTagProperties(client, repository, tag) : undefined,
    manifest: request.lockManifest ? await getManifestProperties(client, repository, digest) : undefined,
  };
  if (before.tag && before.tag.digest !== digest) {
    throw new DigestReleaseError('EXPECTED_DIGEST_MISMATCH', `The tag ${where} moved to ${before.tag.digest} while it was being ${request.action}ed; nothing was changed. Run again after finding out who pushed.`);
  }
  const unchanged = (before.tag === undefined || matches(before.tag.attributes, want)) && (before.manifest === undefined || matches(before.manifest.attributes, want));

  // What changed is kept as the registry answered it: a failure after a change says exactly what
  // is locked and what is not (a half-done lock is reported, not hidden; a rerun completes it).
  const changed: string[] = [];
  if (!unchanged) {
    // 3. The tag first: once it is write-locked it cannot move, so the check after it is final.
    const pending = [before.tag && tag !== undefined && !matches(before.tag.attributes, want) ? `the tag ${where}` : '', before.manifest && !matches(before.manifest.attributes, want) ? `the manifest ${digest}` : ''].filter((part) => part);
    try {
      if (before.tag && tag !== undefined && !matches(before.tag.attributes, want)) {
        const updated = await updateTagProperties(client, repository, tag, want);
        if (updated.digest !== digest) {
          await updateTagProperties(client, repository, tag, { writeEnabled: before.tag.attributes.writeEnabled, deleteEnabled: before.tag.attributes.deleteEnabled });
          throw new DigestReleaseError(
            'EXPECTED_DIGEST_MISMATCH',
            `The tag ${where} moved to ${updated.digest} while it was being locked; its lock was undone and the manifest was not touched. Find out who pushed over it.`,
          );
        }
        changed.push(`the tag ${where} is ${describe(updated.attributes)}`);
        pending.shift();
      }
      if (before.manifest && !matches(before.manifest.attributes, want)) {
        const updated = await updateManifestProperties(client, repository, digest, want);
        changed.push(`the manifest ${digest} is ${describe(updated.attributes)}`);
      }
    } catch (err) {
      if (isDigestReleaseError(err, 'EXPECTED_DIGEST_MISMATCH')) throw err;
      throw withMore(err, halfDone(request.action, changed, pending, err));
    }
  }

  // 4. Read back: the registry's word, not the PATCH answer, decides.
  let after: { tag: TagProperties | undefined; manifest: ManifestProperties | undefined };
  try {
    after = {
      tag: request.lockTag && tag !== undefined ? await getTagProperties(client, repository, tag) : undefined,
      manifest: request.lockManifest ? await getManifestProperties(client, repository, digest) : undefined,
    };
  } catch (err) {
    if (changed.length === 0) throw err;
    const done = request.action === 'lock' ? 'locked' : 'unlocked';
    throw withMore(err, `Reading the ${request.action} back failed after the change: ${changed.join(' and ')}, as the registry answered the change, but that is not confirmed. A rerun finds what is ${done} already and reads it back.`);
  }
  const wrong: string[] = [];
  if (after.tag && (!matches(after.tag.attributes, want) || after.tag.digest !== digest)) wrong.push(`the tag ${where} reads back ${describe(after.tag.attributes)} on ${after.tag.digest}`);
  if (after.manifest && !matches(after.manifest.attributes, want)) wrong.push(`the manifest ${digest} reads back ${describe(after.manifest.attributes)}`);
  if (wrong.length > 0) {
    throw new DigestReleaseError(
      'LOCK_NOT_APPLIED',
      `The ${request.action} of ${where} did not take: asked for ${describe(want)}, but ${wrong.join(' and ')}. ` +
        'Check that nothing else (a policy, another pipeline) changes these attributes, and that the identity may write repository metadata.',
    );
  }
  return {
    digest,
    supported: true,
    locked: request.action === 'lock',
    unchanged,
    ...(after.tag ? { tag: after.tag.attributes } : {}),
    ...(after.manifest ? { manifest: after.manifest.attributes } : {}),
  };
}

/** The state a lock or unlock that failed midway left, and what a rerun does. */
function halfDone(action: LockAction, changed: readonly string[], pending: readonly string[], failure: unknown): string {
  const done = action === 'lock' ? 'locked' : 'unlocked';
  const them = pending.length === 1 ? 'it' : 'them';
  // A change whose answer never came may have been made: say so rather than guess.
  const lost = isDigestReleaseError(failure, 'STALLED') || isDigestReleaseError(failure, 'UNREACHABLE');
  const pendingState = lost ? `${pending.join(' and ')} may or may not be ${done} (the answer to the change was lost)` : `${pending.join(' and ')} ${pending.length === 1 ? 'is' : 'are'} not ${done}`;
  if (changed.length === 0) return `Nothing was confirmed ${done}: ${pendingState}. A rerun ${action}s ${them}.`;
  return `The ${action} is half done: ${changed.join(' and ')} (as the registry answered), but ${pendingState}. A rerun finds what is ${done} already and ${action}s the rest.`;
}

function describe(attributes: AttributePatch): string {
  return `writeEnabled=${attributes.writeEnabled}, deleteEnabled=${attributes.deleteEnabled}`;
}

/** `otherwise` ends the message with what the calling task offers instead (DigestLock: failOnUnsupported). */
export function unsupported(registry: string, otherwise = 'then set failOnUnsupported: false so this step warns instead of failing.'): DigestReleaseError {
  const hint = hasAcrHostName(registry)
    ? ' Its name is an Azure Container Registry name, but it did not answer as one (no Bearer challenge from its own /oauth2/token); check the connection type and the registry name.'
    : '';
  return new DigestReleaseError(
    'LOCK_UNSUPPORTED',
    `The registry ${registry} is not an Azure Container Registry, and locking a tag or manifest needs ACR's writeEnabled and deleteEnabled properties.${hint} ` +
      'On other registries use what they offer instead: tag immutability on Amazon ECR (imageTagMutability IMMUTABLE), immutable tag rules in Harbor, ' +
      `or a tag-protection rule in your registry; ${otherwise}`,
  );
}
