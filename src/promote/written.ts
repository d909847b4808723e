import { isDigestReleaseError, withMore } from '../errors';
import type { Digest } from '../reference/digest';

// What a promotion has written to the target so far, so that a failure at any step says what it
// left there and what a rerun will do. A promotion writes in an order that keeps a failure
// harmless (blobs, then manifests by digest, then tags), so the state is one of a few: nothing;
// blobs no manifest names yet; some manifests by digest; the whole image, verified; and then tags.

export class Written {
  private blobs = 0;
  private bytes = 0;
  private manifests = 0;
  private referrers = 0;
  private inPlace: 'copied' | 'imported' | undefined;
  private readonly tags: string[] = [];
  private failedTag: { readonly tag: string; readonly now: Digest | undefined | 'unknown' } | undefined;

  constructor(
    /** `registry/repository` of the target. */
    private readonly target: string,
    private readonly digest: Digest,
    /** An ACR import already put the whole image at the target, verified. */
    imported: boolean,
  ) {
    if (imported) this.inPlace = 'imported';
  }

  blobCopied(bytes: number): void {
    this.blobs++;
    this.bytes += bytes;
  }

  manifestWritten(referrer: boolean): void {
    if (referrer) this.referrers++;
    else this.manifests++;
  }

  /** The whole image read back at the target. */
  verified(): void {
    this.inPlace ??= 'copied';
  }

  tagWritten(tag: string): void {
    this.tags.push(tag);
  }

  /** A tag write that failed, with what the tag names now (read back), 'unknown' when it could not be read. */
  tagFailed(tag: string, now: Digest | undefined | 'unknown'): void {
    if (now === this.digest) this.tags.push(tag);
    this.failedTag = { tag, now };
  }

  get nothing(): boolean {
    return this.inPlace === undefined && this.blobs === 0 && this.manifests === 0 && this.referrers === 0;
  }

  /** What is at the target because of this run, as a sentence. */
  describe(): string {
    if (this.nothing) return 'Nothing was copied and no tag was changed.';
    const at = `${this.target}@${this.digest}`;
    let text: string;
    if (this.inPlace === 'imported') text = `The import put the image at the target by digest (${at}), verified`;
    else if (this.inPlace === 'copied') text = `The image is at the target by digest (${at}), verified`;
    else if (this.manifests + this.referrers > 0)
      text = `This run wrote ${count(this.blobs, 'blob')} and ${count(this.manifests + this.referrers, 'manifest')} to ${this.target} by digest, not yet verified there`;
    else
      text = `This run copied ${count(this.blobs, 'blob')} (${this.bytes} bytes) to ${this.target}, which no manifest there names yet`;
    if (this.inPlace !== undefined && this.referrers > 0) text += `, with ${count(this.referrers, 'referrer')}`;
    text +=
      this.tags.length > 0
        ? `; the tag${this.tags.length === 1 ? '' : 's'} ${this.tags.join(', ')} now point${this.tags.length === 1 ? 's' : ''} at it`
        : '; no tag was written';
    const failed = this.failedTag;
    if (failed !== undefined && failed.now !== this.digest) {
      const now =
        failed.now === 'unknown'
          ? 'could not be read back'
          : failed.now === undefined
            ? 'does not exist'
            : `still points at ${failed.now}`;
      text += `; ${failed.tag} was not written (it ${now})`;
    } else if (failed !== undefined) {
      text += ` (${failed.tag}'s write took, though its answer was lost)`;
    }
    return `${text}.`;
  }

  /** What running the step again does from here. */
  rerun(): string {
    if (this.nothing) return 'A rerun starts over.';
    return 'A rerun skips what is already at the target, copies what is missing, then writes the tags; a tag already at this digest stays as it is.';
  }

  /** `err`, its message completed with the target's state and what a rerun does (a TAG_CONFLICT says its own). */
  explain(err: unknown): unknown {
    if (!isDigestReleaseError(err) || err.code === 'TAG_CONFLICT') return err;
    return withMore(err, `${this.describe()} ${this.rerun()}`);
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
