import { DigestReleaseError, isDigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import { putManifest } from '../registry/manifests';
import { settle } from '../registry/racing-writes';
import { runPool } from '../pool';
import { againIfBlobUnknown } from './blobcopy';
import type { CopyPlan } from './plan';
import type { PromoteLog, PromoteRequest } from './promote';
import type { TagPlan } from './tag-plan';
import type { Written } from './written';

// Tags at the target: checked before anything moves and again just before writing (another run may
// take one meanwhile), written only once the image is verified there, then read back after a settle
// wait (registry/racing-writes.ts) so a run that wrote the same tag at the same moment is seen.

/**
 * When tags are checked: before anything is copied; after an import put the image at the target,
 * before the copy path adds to it; or after the image is in place and before any tag is written.
 */
export type TagCheckPhase = 'before-copy' | 'after-import' | 'after-copy';

/** Every tag to write must be free or already at this digest, unless overwriteTags (floating tags always move). */
export async function checkTags(
  request: PromoteRequest,
  tagPlan: TagPlan,
  target: string,
  phase: TagCheckPhase,
  written: Written,
): Promise<TagsNow> {
  const current = await readTags(request, tagPlan);
  judgeTags(request, tagPlan, current, target, phase, written);
  return current;
}

/** What each tag to write names at the target now (undefined: the tag does not exist). */
export type TagsNow = ReadonlyMap<string, Digest | undefined>;

/** Reads what each tag to write names at the target, judging nothing. */
export function readTags(request: PromoteRequest, tagPlan: TagPlan): Promise<TagsNow> {
  return tagDigests(request, [...tagPlan.explicit, ...tagPlan.floating]);
}

/**
 * What each of `tags` names at the target, in their order. The first is read alone (as the run's
 * first request at the target it signs in, and the others then do not each meet a challenge), the
 * others several at once.
 */
async function tagDigests(request: PromoteRequest, tags: readonly string[]): Promise<TagsNow> {
  const current = new Map<string, Digest | undefined>(tags.map((tag) => [tag, undefined]));
  const read = async (tag: string) => {
    current.set(tag, (await request.target.headManifest(request.targetRepository, tag))?.digest);
  };
  const [first, ...rest] = tags;
  if (first !== undefined) await read(first);
  await runPool(rest, request.concurrency, read);
  return current;
}

/** A tag asked for by name that names other bytes is a TAG_CONFLICT, unless overwriteTags. */
function judgeTags(
  request: PromoteRequest,
  tagPlan: TagPlan,
  current: TagsNow,
  target: string,
  phase: TagCheckPhase,
  written: Written,
): void {
  for (const [tag, digest] of current) {
    if (digest !== undefined && digest !== request.digest && !request.overwriteTags && tagPlan.explicit.includes(tag)) {
      throw new DigestReleaseError(
        'TAG_CONFLICT',
        `The tag ${target}:${tag} already points at ${digest}, and this promotion would point it at ${request.digest}. ` +
          `${TAG_TAKEN[phase]}${written.describe()} ` +
          'Promote under a new tag, or set overwriteTags: true to move the tag.',
      );
    }
  }
}

/** When a tag conflict found in a later phase arose, for the message. */
const TAG_TAKEN: Record<TagCheckPhase, string> = {
  'before-copy': '',
  'after-import': 'The tag was taken while the image was imported. ',
  'after-copy': 'The tag was taken while the image was copied. ',
};

/**
 * Writes the tags. `recheck` is the second look at them (readTags), started with the read-back of
 * the image, before any tag is written (another run may have taken a tag while the image was
 * copied), at `startedAt` (Date.now()).
 */
export async function writeTags(
  request: PromoteRequest,
  plan: CopyPlan,
  tagPlan: TagPlan,
  target: string,
  log: PromoteLog,
  recheckBlobs: () => Promise<void>,
  written: Written,
  recheck: { readonly tags: Promise<TagsNow>; readonly startedAt: number },
): Promise<{ tagsWritten: string[]; tagsUnchanged: string[] }> {
  const current = await recheck.tags;
  judgeTags(request, tagPlan, current, target, 'after-copy', written);
  const tagsWritten: string[] = [];
  const tagsUnchanged: string[] = [];
  for (const [tag, digest] of current) {
    if (digest === request.digest) {
      tagsUnchanged.push(tag);
      continue;
    }
    try {
      await againIfBlobUnknown(
        () => putManifest(request.target, request.targetRepository, tag, plan.root.bytes, plan.root.mediaType),
        recheckBlobs,
      );
    } catch (err) {
      written.tagFailed(tag, await tagNow(request, tag, err));
      throw err;
    }
    tagsWritten.push(tag);
    written.tagWritten(tag);
  }
  if (tagsWritten.length > 0) {
    // Another run that checked a tag before our write landed writes it within the settle time.
    await settle(recheck.startedAt);
    await readBackTags(request, tagPlan, tagsWritten, target, log);
  }
  return { tagsWritten, tagsUnchanged };
}

/**
 * What a tag names after its write failed, read back so the message can say; 'unknown' when it
 * cannot be read, or when the registry's connection failed (reading would wait out the same failure).
 */
async function tagNow(request: PromoteRequest, tag: string, failure: unknown): Promise<Digest | undefined | 'unknown'> {
  if (isDigestReleaseError(failure, 'STALLED') || isDigestReleaseError(failure, 'UNREACHABLE')) return 'unknown';
  try {
    return (await request.target.headManifest(request.targetRepository, tag))?.digest;
  } catch {
    return 'unknown';
  }
}

/**
 * After the settle time, every tag this run wrote must still name its digest. A tag asked for by name
 * that another run wrote over is a failed promotion (both runs cannot have released under one tag),
 * unless overwriteTags allowed it to move; a floating tag moved by another run is logged.
 */
async function readBackTags(
  request: PromoteRequest,
  tagPlan: TagPlan,
  written: readonly string[],
  target: string,
  log: PromoteLog,
): Promise<void> {
  const lost: string[] = [];
  const kept: string[] = [];
  const after = await tagDigests(request, written);
  for (const [tag, now] of after) {
    if (now === request.digest) {
      kept.push(tag);
      continue;
    }
    const what = now === undefined ? 'is gone' : `points at ${now}`;
    if (tagPlan.explicit.includes(tag) && !request.overwriteTags) {
      lost.push(`${target}:${tag} ${what}`);
      continue;
    }
    log.warning(
      `${target}:${tag} was written with ${request.digest}, and another run moved it at the same time: it ${what}.`,
    );
  }
  if (lost.length > 0) {
    throw new DigestReleaseError(
      'TAG_CONFLICT',
      `Another run wrote the same tag at the same time as this one: this run wrote ${request.digest}, and now ${lost.join('; ')}. ` +
        `Both tag checks found the tag free or at their own digest just before writing; the registry keeps the last write. ` +
        `The image is at the target by digest (${target}@${request.digest}), verified${kept.length > 0 ? `, and the tag${kept.length === 1 ? '' : 's'} ${kept.join(', ')} this run wrote still name${kept.length === 1 ? 's' : ''} it` : ''}. ` +
        'Decide which release the tag names, then promote that one again with overwriteTags: true.',
    );
  }
}
