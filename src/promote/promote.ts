import { DigestReleaseError, messageOf } from '../errors';
import type { Digest } from '../reference/digest';
import type { Descriptor } from '../registry/manifest-parse';
import type { RegistryClient } from '../registry/client';
import type { ManifestResult } from '../registry/manifests';
import { findManifest, putManifest } from '../registry/manifests';
import { pushReferrer } from '../registry/referrers';
import { listTags } from '../registry/tag-list';
import type { BlobEnds } from './blobcopy';
import { againIfBlobUnknown, copyBlob, sameRegistry } from './blobcopy';
import type { CopyPlan, PlannedManifest } from './plan';
import { addReferrers, planImage } from './plan';
import { runPool } from '../pool';
import { roundedSize } from '../size';
import { planTags } from './tag-plan';
import { checkTags, readTags, writeTags } from './tag-writes';
import { Written } from './written';

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

export async function promote(
  request: PromoteRequest,
  log: PromoteLog,
  options: PromoteOptions = {},
): Promise<PromoteResult> {
  const target = `${request.target.registry}/${request.targetRepository}`;
  const written = new Written(target, request.digest, options.imageAtTarget === true);
  try {
    return await promoteRecorded(request, log, options, target, written);
  } catch (err) {
    // Whatever failed, the message says what this run left at the target and what a rerun does.
    throw written.explain(err);
  }
}

async function promoteRecorded(
  request: PromoteRequest,
  log: PromoteLog,
  options: PromoteOptions,
  target: string,
  written: Written,
): Promise<PromoteResult> {
  // The tag check at the target needs nothing from the source: it runs while the source is read.
  // The target's blobs are looked at only after it, so the target is signed in once, by it, not
  // by several first requests at once. A source that fails is reported first, as before.
  // Then whether the image is at the target already (a re-promotion, or the digest promoted before
  // under another tag, or imported): a registry stores a manifest only once every blob and manifest
  // it names is there, and keeps what a stored manifest names, so then only referrers are left to
  // copy. One GET by digest answers that, and its bytes, hashed, are the root's read-back: nothing
  // this run writes changes them, so it is not read again at the end.
  const tagCheck = (async () => {
    const existing = request.semverTags ? await listTags(request.target, request.targetRepository) : [];
    const tagPlan = planTags(request.tags, request.semverTags, existing);
    const current = await checkTags(
      request,
      tagPlan,
      target,
      options.imageAtTarget ? 'after-import' : 'before-copy',
      written,
    );
    const rootRead = options.imageAtTarget
      ? undefined
      : await findManifest(request.target, request.targetRepository, request.digest);
    return { tagPlan, current, rootRead };
  })();
  // Awaited below; this keeps its failure from counting as unhandled while the source is read.
  tagCheck.catch(() => undefined);
  const image = await planImage(request.source, request.sourceRepository, request.digest);
  if (image.root.digest !== request.digest) {
    throw new DigestReleaseError(
      'DIGEST_MISMATCH',
      `The source served ${image.root.digest} when asked for ${request.digest}.`,
    );
  }
  log.info(
    `Plan: ${image.manifests.length} manifest(s), ${image.blobs.length} blob(s) of ${roundedSize(sum(image.blobs.map((b) => b.size)))}${request.includeReferrers ? '; referrers are looked for while the blobs copy' : ''}.`,
  );
  // Referrers are looked for at the source while the image's blobs copy.
  const withReferrers = request.includeReferrers
    ? addReferrers(request.source, request.sourceRepository, image)
    : Promise.resolve(image);
  withReferrers.catch(() => undefined);
  const { tagPlan, current, rootRead } = await tagCheck;
  const atTarget = options.imageAtTarget === true || rootRead !== undefined;
  for (const note of tagPlan.notes) log.info(note);

  const ends: BlobEnds = {
    source: request.source,
    sourceRepository: request.sourceRepository,
    target: request.target,
    targetRepository: request.targetRepository,
  };
  const counts = { uploaded: 0, bytes: 0, mounted: 0, present: 0, presentBytes: 0 };
  if (atTarget) {
    log.info(`${target}@${request.digest} is there already: its manifests and blobs are not copied again.`);
  } else {
    log.info(
      `Copying blobs to ${target}, ${request.concurrency} at a time${sameRegistry(ends) ? ', mounting within the registry' : ''}.`,
    );
  }
  const copyAll = (blobs: readonly Descriptor[]) =>
    runPool(blobs, request.concurrency, async (blob) => {
      const outcome = await copyBlob(ends, blob, (digest, attempt, err) =>
        log.warning(`Upload of ${digest} failed (attempt ${attempt}: ${messageOf(err)}); starting it over.`),
      );
      if (outcome === 'uploaded') {
        counts.uploaded++;
        counts.bytes += blob.size;
        written.blobCopied(blob.size);
      } else if (outcome === 'mounted') {
        counts.mounted++;
        written.blobCopied(0);
      } else {
        counts.present++;
        counts.presentBytes += blob.size;
      }
    });
  if (atTarget) {
    counts.present = image.blobs.length;
    counts.presentBytes = sum(image.blobs.map((b) => b.size));
  } else {
    await copyAll(image.blobs);
  }

  const plan = await withReferrers;
  const referrers = plan.manifests.filter((m) => m.subject !== undefined).length;
  if (request.includeReferrers) {
    const more = plan.blobs.slice(image.blobs.length);
    log.info(
      `Referrers: ${referrers} found${more.length > 0 ? `, naming ${more.length} more blob(s) of ${roundedSize(sum(more.map((b) => b.size)))}` : ''}.`,
    );
    await copyAll(more);
  }

  const recheckBlobs = () => ensureBlobs(ends, plan);
  let manifestsWritten = 0;
  const write = async (node: PlannedManifest) => {
    if (await againIfBlobUnknown(() => writeManifestOnce(request, node), recheckBlobs)) {
      manifestsWritten++;
      written.manifestWritten(node.subject !== undefined);
    }
  };
  // The image's manifests in waves, each wave what names only manifests already written (an
  // index's children before it), several at once; then referrers one at a time, after their
  // subjects: without the referrers API, each rewrites its subject's tag-schema index.
  let waiting = atTarget ? [] : plan.manifests.filter((m) => m.subject === undefined);
  const done = new Set<Digest>();
  while (waiting.length > 0) {
    const named = waiting.filter((m) =>
      namedManifests(m).every((d) => done.has(d) || !waiting.some((w) => w.digest === d)),
    );
    // The plan lists children before their index, so its first waiting manifest can always go.
    const ready = named.length > 0 ? named : waiting.slice(0, 1);
    await runPool(ready, request.concurrency, async (node) => {
      await write(node);
      done.add(node.digest);
    });
    waiting = waiting.filter((m) => !done.has(m.digest));
  }
  for (const node of plan.manifests.filter((m) => m.subject !== undefined)) await write(node);
  // The tags are looked at again while the image is read back; they are judged, and written, only
  // once it is verified. A run that found the image and every tag at the target, and copied nothing
  // (no referrers), has nothing to write: the first look stands, as for a run that ended then.
  const nothingToWrite =
    atTarget && referrers === 0 && [...current.values()].every((digest) => digest === request.digest);
  const recheck = {
    tags: nothingToWrite ? Promise.resolve(current) : readTags(request, tagPlan),
    startedAt: Date.now(),
  };
  recheck.tags.catch(() => undefined);
  await verifyTarget(request, plan, target, rootRead);
  written.verified();

  const { tagsWritten, tagsUnchanged } = await writeTags(
    request,
    plan,
    tagPlan,
    target,
    log,
    recheckBlobs,
    written,
    recheck,
  );
  return {
    digest: plan.root.digest,
    mediaType: plan.root.mediaType,
    manifests: plan.manifests.length - referrers,
    manifestsWritten,
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

/** Every blob of the plan at the target, those gone or never there copied. */
async function ensureBlobs(ends: BlobEnds, plan: CopyPlan): Promise<void> {
  for (const blob of plan.blobs) await copyBlob(ends, blob);
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

/**
 * Reads back what was written: the root by GET (its bytes re-hashed), every other manifest by HEAD.
 * `rootRead` is the root as this run read it at the target before writing anything (the image was
 * there already): this run does not write the root then, so it is not read again.
 */
async function verifyTarget(
  request: PromoteRequest,
  plan: CopyPlan,
  target: string,
  rootRead: ManifestResult | undefined,
): Promise<void> {
  const root = rootRead ?? (await request.target.getManifest(request.targetRepository, plan.root.digest));
  if (root.digest !== request.digest) {
    throw new DigestReleaseError(
      'DIGEST_MISMATCH',
      `${target}@${request.digest} reads back as ${root.digest}; no tag was written.`,
    );
  }
  // The root was just read whole; a HEAD would only ask again.
  await runPool(
    plan.manifests.filter((m) => m.digest !== plan.root.digest),
    request.concurrency,
    async (node) => {
      const head = await request.target.headManifest(request.targetRepository, node.digest);
      if (!head) {
        throw new DigestReleaseError(
          'MANIFEST_UNKNOWN',
          `${target} does not have ${node.digest} after it was written; no tag was written. The registry may be deleting what it is sent (a retention policy).`,
        );
      }
    },
  );
}

/** The manifests an index names (its children), which must be at the target before it. */
function namedManifests(node: PlannedManifest): Digest[] {
  return node.manifest.kind === 'index' ? node.manifest.manifests.map((m) => m.digest) : [];
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
