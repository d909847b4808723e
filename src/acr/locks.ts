import { DigestReleaseError, isDigestReleaseError, messageOf, withMore } from '../errors';
import type { Digest } from '../reference/digest';
import type { ImageReference } from '../reference/reference';
import { formatReference } from '../reference/reference';
import type { RegistryClient } from '../registry/client';
import { hasAcrHostName, isAcr, isAcrChallenge } from './detect';
import type { AttributePatch, ChangeableAttributes, ManifestProperties, TagProperties } from './properties';
import { getManifestProperties, getTagProperties, updateManifestProperties, updateTagProperties } from './properties';

// Locks in Azure Container Registry, for every task: applying one (DigestLock, DigestPromote's
// lockAfterPromote), reading its state (DigestEvidence), and the error for a registry that has
// none (DigestLock, DigestPromote, DigestRetain). The properties they rest on are in properties.ts,
// how an ACR is recognised in detect.ts.
//
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
  return request.action === 'lock'
    ? { writeEnabled: false, deleteEnabled: request.deleteEnabled }
    : { writeEnabled: true, deleteEnabled: true };
}

const matches = (attributes: ChangeableAttributes, want: AttributePatch): boolean =>
  attributes.writeEnabled === want.writeEnabled && attributes.deleteEnabled === want.deleteEnabled;

export async function applyLock(request: LockRequest, client: RegistryClient): Promise<LockOutcome> {
  const { image } = request;
  const repository = image.repository;
  if (!request.lockManifest && !request.lockTag) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      'The inputs lockManifest and lockTag are both false, so there is nothing to lock. Set one of them (both, usually) to true.',
    );
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
    throw new DigestReleaseError(
      'EXPECTED_DIGEST_MISMATCH',
      `The tag ${where} moved to ${before.tag.digest} while it was being ${request.action}ed; nothing was changed. Run again after finding out who pushed.`,
    );
  }
  const unchanged =
    (before.tag === undefined || matches(before.tag.attributes, want)) &&
    (before.manifest === undefined || matches(before.manifest.attributes, want));

  // What changed is kept as the registry answered it: a failure after a change says exactly what
  // is locked and what is not (a half-done lock is reported, not hidden; a rerun completes it).
  const changed: string[] = [];
  if (!unchanged) {
    // 3. The tag first: once it is write-locked it cannot move, so the check after it is final.
    const pending = [
      before.tag && tag !== undefined && !matches(before.tag.attributes, want) ? `the tag ${where}` : '',
      before.manifest && !matches(before.manifest.attributes, want) ? `the manifest ${digest}` : '',
    ].filter((part) => part);
    try {
      if (before.tag && tag !== undefined && !matches(before.tag.attributes, want)) {
        const updated = await updateTagProperties(client, repository, tag, want);
        if (updated.digest !== digest) {
          await updateTagProperties(client, repository, tag, {
            writeEnabled: before.tag.attributes.writeEnabled,
            deleteEnabled: before.tag.attributes.deleteEnabled,
          });
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
    throw withMore(
      err,
      `Reading the ${request.action} back failed after the change: ${changed.join(' and ')}, as the registry answered the change, but that is not confirmed. A rerun finds what is ${done} already and reads it back.`,
    );
  }
  const wrong: string[] = [];
  if (after.tag && (!matches(after.tag.attributes, want) || after.tag.digest !== digest))
    wrong.push(`the tag ${where} reads back ${describe(after.tag.attributes)} on ${after.tag.digest}`);
  if (after.manifest && !matches(after.manifest.attributes, want))
    wrong.push(`the manifest ${digest} reads back ${describe(after.manifest.attributes)}`);
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
function halfDone(
  action: LockAction,
  changed: readonly string[],
  pending: readonly string[],
  failure: unknown,
): string {
  const done = action === 'lock' ? 'locked' : 'unlocked';
  const them = pending.length === 1 ? 'it' : 'them';
  // A change whose answer never came may have been made: say so rather than guess.
  const lost = isDigestReleaseError(failure, 'STALLED') || isDigestReleaseError(failure, 'UNREACHABLE');
  const pendingState = lost
    ? `${pending.join(' and ')} may or may not be ${done} (the answer to the change was lost)`
    : `${pending.join(' and ')} ${pending.length === 1 ? 'is' : 'are'} not ${done}`;
  if (changed.length === 0) return `Nothing was confirmed ${done}: ${pendingState}. A rerun ${action}s ${them}.`;
  return `The ${action} is half done: ${changed.join(' and ')} (as the registry answered), but ${pendingState}. A rerun finds what is ${done} already and ${action}s the rest.`;
}

function describe(attributes: AttributePatch): string {
  return `writeEnabled=${attributes.writeEnabled}, deleteEnabled=${attributes.deleteEnabled}`;
}

/** `otherwise` ends the message with what the calling task offers instead (DigestLock: failOnUnsupported). */
export function unsupported(
  registry: string,
  otherwise = 'then set failOnUnsupported: false so this step warns instead of failing.',
): DigestReleaseError {
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

/** The lock state of a manifest as release evidence records it (evidence/predicate.ts). */
export const LOCK_STATES = ['locked', 'unlocked', 'unknown', 'notApplicable'] as const;
export type LockState = (typeof LOCK_STATES)[number];

export type LockFacts = {
  readonly state: LockState;
  /** Why the state is what it is when it is not read from the registry's lock properties. */
  readonly reason: string | null;
  readonly writeEnabled: boolean | null;
  readonly deleteEnabled: boolean | null;
};

// The lock state of the released manifest, read live from the registry. Only Azure Container
// Registry has manifest locks (changeableAttributes writeEnabled, deleteEnabled). An ACR is
// recognised by its challenge, as DigestLock does (detect.ts). A registry that allows anonymous
// pulls may not have challenged yet; rather than probe first (isAcr), the properties read is the
// probe: ACR always challenges /acr/v1, and the challenge seen by then decides. A state that cannot be read is `unknown` with
// the registry's reason, never guessed.

/** Who may read lock properties, for messages. */
export const METADATA_READ_ROLES =
  'The identity needs to read repository metadata (the metadata_read scope): Contributor or Owner on the registry, Container Registry Repository Reader on registries with repository permissions (ABAC), or, for a Docker Registry connection, an ACR token whose scope map has metadata/read.';

export async function readLockFacts(client: RegistryClient, repository: string, digest: Digest): Promise<LockFacts> {
  const name = `${client.registry}/${repository}@${digest}`;
  // A challenge already seen decides without a request; only its absence says nothing.
  if (client.challenge !== undefined && !isAcrChallenge(client.registry, client.challenge))
    return notAcr(client.registry);

  let properties: ManifestProperties | undefined;
  let failure: unknown;
  try {
    properties = await getManifestProperties(client, repository, digest);
  } catch (err) {
    failure = err;
  }
  if (!isAcrChallenge(client.registry, client.challenge)) return notAcr(client.registry);
  if (properties === undefined) {
    return unknown(`The lock properties of ${name} could not be read: ${messageOf(failure)} ${METADATA_READ_ROLES}`);
  }
  if (properties.digest !== digest) {
    return unknown(`The registry answered the lock properties of ${name} for another manifest, ${properties.digest}.`);
  }
  const { writeEnabled, deleteEnabled } = properties.attributes;
  return { state: writeEnabled ? 'unlocked' : 'locked', reason: null, writeEnabled, deleteEnabled };
}

function unknown(reason: string): LockFacts {
  return { state: 'unknown', reason, writeEnabled: null, deleteEnabled: null };
}

function notAcr(registry: string): LockFacts {
  if (hasAcrHostName(registry)) {
    // An ACR name that does not answer as an ACR: something stands between, so nothing is assumed.
    return unknown(
      `${registry} has an Azure Container Registry name but did not answer as one (no Bearer challenge from its own /oauth2/token), so its manifest locks could not be read. Check the connection type and the registry name.`,
    );
  }
  return {
    state: 'notApplicable',
    reason: `${registry} is not an Azure Container Registry and has no manifest locks.`,
    writeEnabled: null,
    deleteEnabled: null,
  };
}

// lockAfterPromote: the lock of DigestLock@1 on what was just promoted. The manifest and every tag
// asked for by name (target's tag, additionalTags) are locked with writeEnabled=false and
// deleteEnabled=false and read back. Semantic-version tags (1.4, 1) float to the newest release by
// design, so they are not locked: a lock on them would fail the next promotion of that line.

/**
 * Before anything moves: the target must be an ACR, or the promotion would end unlockable.
 * `otherwise` ends the error as unsupported's does.
 */
export async function requireLockableTarget(
  target: RegistryClient,
  repository: string,
  digest: Digest,
  otherwise: string,
): Promise<void> {
  if (!(await isAcr(target, repository, digest))) throw unsupported(target.registry, otherwise);
}

export interface PromotedLock {
  /** The tags locked, each read back as writeEnabled=false, deleteEnabled=false on the digest. */
  readonly tags: readonly string[];
  readonly manifest: ChangeableAttributes;
}

export async function lockPromoted(
  target: RegistryClient,
  image: ImageReference,
  digest: Digest,
  tags: readonly string[],
): Promise<PromotedLock> {
  const base = { expectedDigest: digest, action: 'lock' as const, deleteEnabled: false };
  const requests: LockRequest[] =
    tags.length === 0
      ? [
          {
            ...base,
            image: { registry: image.registry, repository: image.repository, digest },
            lockManifest: true,
            lockTag: false,
          },
        ]
      : tags.map((tag, i) => ({
          ...base,
          image: { registry: image.registry, repository: image.repository, tag },
          lockManifest: i === 0,
          lockTag: true,
        }));
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
      throw new DigestReleaseError(
        'LOCK_NOT_APPLIED',
        `The lock of ${formatReference(request.image)} after the promotion did not take. The image was promoted, but it is not locked; run DigestLock@1 on it, or this task again.`,
      );
    }
    if (outcome.manifest) manifest = outcome.manifest;
    if (request.lockTag && request.image.tag !== undefined) locked.push(request.image.tag);
  }
  if (!manifest)
    throw new DigestReleaseError(
      'LOCK_NOT_APPLIED',
      `The manifest ${digest} was not read back after the lock. The image was promoted, but its lock is not confirmed.`,
    );
  return { tags: locked, manifest };
}
