import { DigestReleaseError, messageOf } from '../errors';
import { Digest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { putManifest } from '../registry/manifests';
import { pushReferrer } from '../registry/referrers';
import { listTags } from '../registry/tags';
import { BlobEnds, copyBlob, sameRegistry } from './blobcopy';
import { CopyPlan, PlannedManifest, planCopy } from './plan';
import { runPool } from '../pool';
import { TagPlan, planTags } from './tags';

// A promotion: one digest from a source repository to a target repository, byte for byte.
// Order is what makes it safe: tags are checked before anything moves; blobs go first (skipped,
// mounted or streamed and checked), then manifests, children before the index and subjects before
// referrers; then everything is read back at the target and checked; only then are tags written.
// A failure at any step leaves no target tag pointing at anything not fully in place.

export interface PromoteRequest {
  readonly source: RegistryClient;
  readonly sourceRepository: string;
  readonly digest: Digest;
  readonly target: RegistryClient;
  readonly targetRepository: string;
  readonly tags: readonly string[];
  readonly semverTags: boolean;
  readonly overwriteTags: boolean;
  readonly includeReferrers: boolean;
  readonly concurrency: number;
}

/** Options for one promotion, apart from what it promotes. */
export interface PromoteOptions {
  /**
   * The image is already at the target by digest, verified (an ACR import put it there): a tag
   * found taken at the first check then says so, not that nothing was copied.
   */
  readonly imageAtTarget?: boolean;
}

export interface PromoteLog {
  info(message: string): void;
  warning(message: string): void;
}

export interface PromoteResult {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly manifests: number;
  readonly manifestsWritten: number;
  readonly referrers: number;
  readonly blobsUploaded: number;
  readonly bytesUploaded: number;
  readonly blobsMounted: number;
  readonly blobsPresent: number;
  readonly bytesPresent: number;
  readonly foreignSkipped: number;
  /** Tags written or moved by this run. */
  readonly tagsWritten: readonly string[];
  /** Tags that already pointed at the digest. */
  readonly tagsUnchanged: readonly string[];
  readonly notes: readonly string[];
}

export async function promote(request: PromoteRequest, log: PromoteLog, options: PromoteOptions = {}): Promise<PromoteResult> {
  const target = `${request.target.registry}/${request.targetRepository}`;
  const plan = await planCopy(request.source, request.sourceRepository, request.digest, { includeReferrers: request.includeReferrers });
  if (plan.root.digest !== request.digest) {
    throw new DigestReleaseError('DIGEST_MISMATCH', `The source served ${plan.root.digest} when asked for ${request.digest}.`);
  }
  const referrers = plan.manifests.filter((m) => m.subject !== undefined).length;
  log.info(
    `Plan: ${plan.manifests.length - referrers} manifest(s), ${referrers} referrer(s), ${plan.blobs.length} blob(s) of ${formatBytes(sum(plan.blobs.map((b) => b.size)))}.`,
  );

  const existing = request.semverTags ? await listTags(request.target, request.targetRepository) : [];
  const tagPlan = planTags(request.tags, request.semverTags, existing);
  for (const note of tagPlan.notes) log.info(note);
  await checkTags(request, tagPlan, target, options.imageAtTarget ? 'after-import' : 'before-copy');

  const ends: BlobEnds = { source: request.source, sourceRepository: request.sourceRepository, target: request.target, targetRepository: request.targetRepository };
  const counts = { uploaded: 0, bytes: 0, mounted: 0, present: 0, presentBytes: 0 };
  log.info(`Copying blobs to ${target}, ${request.concurrency} at a time${sameRegistry(ends) ? ', mounting within the registry' : ''}.`);
  await runPool(plan.blobs, request.concurrency, async (blob) => {
    const outcome = await copyBlob(ends, blob, (digest, attempt, err) =>
      log.warning(`Upload of ${digest} failed (attempt ${attempt}: ${messageOf(err)}); starting it over.`),
    );
    if (outcome === 'uploaded') {
      counts.uploaded++;
      counts.bytes += blob.size;
    } else if (outcome === 'mounted') counts.mounted++;
    else {
      counts.present++;
      counts.presentBytes += blob.size;
    }
  });

  let written = 0;
  for (const node of plan.manifests) {
    if (await writeManifestOnce(request, node)) written++;
  }
  await verifyTarget(request, plan, target);

  const { tagsWritten, tagsUnchanged } = await writeTags(request, plan, tagPlan, target);
  return {
    digest: plan.root.digest,
    mediaType: plan.root.mediaType,
    manifests: plan.manifests.length - referrers,
    manifestsWritten: written,
    referrers,
    blobsUploaded: counts.uploaded,
    bytesUploaded: counts.bytes,
    blobsMounted: counts.mounted,
    blobsPresent: counts.present,
    bytesPresent: counts.presentBytes,
    foreignSkipped: plan.skippedForeign.length,
    tagsWritten,
    tagsUnchanged,
    notes: tagPlan.notes,
  };
}

/** Writes a manifest the target lacks; a referrer is always (re)written so the target indexes it. */
async function writeManifestOnce(request: PromoteRequest, node: PlannedManifest): Promise<boolean> {
  const present = await request.target.headManifest(request.targetRepository, node.digest);
  if (node.subject !== undefined) {
    await pushReferrer(request.target, request.targetRepository, node.bytes, node.mediaType, node.subject);
    return present === undefined;
  }
  if (present) return false;
  await putManifest(request.target, request.targetRepository, node.digest, node.bytes, node.mediaType);
  return true;
}

/** Reads back what was written: the root by GET (its bytes re-hashed), every other manifest by HEAD. */
async function verifyTarget(request: PromoteRequest, plan: CopyPlan, target: string): Promise<void> {
  const root = await request.target.getManifest(request.targetRepository, plan.root.digest);
  if (root.digest !== request.digest) {
    throw new DigestReleaseError('DIGEST_MISMATCH', `${target}@${request.digest} reads back as ${root.digest}; no tag was written.`);
  }
  for (const node of plan.manifests) {
    const head = await request.target.headManifest(request.targetRepository, node.digest);
    if (!head) {
      throw new DigestReleaseError('MANIFEST_UNKNOWN', `${target} does not have ${node.digest} after it was written; no tag was written. The registry may be deleting what it is sent (a retention policy).`);
    }
  }
}

/**
 * When tags are checked: before anything is copied; after an import put the image at the target,
 * before the copy path adds to it; or after the image is in place and before any tag is written.
 */
export type TagCheckPhase = 'before-copy' | 'after-import' | 'after-copy';

/** Every tag to write must be free or already at this digest, unless overwriteTags (floating tags always move). */
export async function checkTags(request: PromoteRequest, tagPlan: TagPlan, target: string, phase: TagCheckPhase): Promise<Map<string, Digest | undefined>> {
  const current = new Map<string, Digest | undefined>();
  for (const tag of [...tagPlan.explicit, ...tagPlan.floating]) {
    const head = await request.target.headManifest(request.targetRepository, tag);
    current.set(tag, head?.digest);
    if (head && head.digest !== request.digest && !request.overwriteTags && tagPlan.explicit.includes(tag)) {
      throw new DigestReleaseError(
        'TAG_CONFLICT',
        `The tag ${target}:${tag} already points at ${head.digest}, and this promotion would point it at ${request.digest}. ` +
          TAG_CONFLICT_STATE[phase](target, request.digest) +
          'Promote under a new tag, or set overwriteTags: true to move the tag.',
      );
    }
  }
  return current;
}

/** What a tag conflict found in each phase leaves at the target, for the message. */
const TAG_CONFLICT_STATE: Record<TagCheckPhase, (target: string, digest: Digest) => string> = {
  'before-copy': () => 'Nothing was copied and no tag was changed. ',
  'after-import': (target, digest) =>
    `The tag was taken while the image was imported: the import put the image at the target by digest (${target}@${digest}), verified, and no tag was written. `,
  'after-copy': (target, digest) => `The tag was taken while the image was copied: the image is at the target by digest (${target}@${digest}), verified, and no tag was written. `,
};

async function writeTags(request: PromoteRequest, plan: CopyPlan, tagPlan: TagPlan, target: string): Promise<{ tagsWritten: string[]; tagsUnchanged: string[] }> {
  // Looked at again: another run may have taken a tag while the blobs were copied.
  const current = await checkTags(request, tagPlan, target, 'after-copy');
  const tagsWritten: string[] = [];
  const tagsUnchanged: string[] = [];
  for (const [tag, digest] of current) {
    if (digest === request.digest) {
      tagsUnchanged.push(tag);
      continue;
    }
    await putManifest(request.target, request.targetRepository, tag, plan.root.bytes, plan.root.mediaType);
    tagsWritten.push(tag);
  }
  return { tagsWritten, tagsUnchanged };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
