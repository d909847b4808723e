import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { ManifestResult } from '../registry/manifests';
import type { Descriptor, Manifest } from '../registry/manifest-parse';
import { isManifestMediaType } from '../registry/manifest-parse';
import type { ReferrerSource } from '../registry/referrers';
import { listReferrers, referrersByApi } from '../registry/referrers';
import { runPool } from '../pool';

// What a promotion copies, read from the source once: every manifest reachable from the digest
// (an index and each child, nested indexes too), every blob they name, and, when asked, the
// referrers of each of those manifests and of the referrers themselves. Manifests are listed in
// the order they may be written: children before the index that names them, subjects before
// their referrers.

export interface PlannedManifest {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly manifest: Manifest;
  /** Set for a referrer: the digest it refers to. */
  readonly subject?: Digest;
}

export interface CopyPlan {
  readonly root: PlannedManifest;
  /** Children first, the root after its children, referrers after their subjects. */
  readonly manifests: readonly PlannedManifest[];
  /** Each blob once, in the order first named. */
  readonly blobs: readonly Descriptor[];
  /** Blobs not copied: foreign and non-distributable layers, which registries serve from elsewhere. */
  readonly skippedForeign: readonly Descriptor[];
}

export interface PlanOptions {
  readonly includeReferrers: boolean;
  /** Referrers of referrers (a signature of an SBOM) are followed this deep. */
  readonly referrerDepth?: number;
}

/** Referrer lists read at once while blobs copy: a few requests more on the source, never dozens. */
const REFERRER_LISTS_AT_ONCE = 4;
/** An index's child manifests read at once. */
const CHILDREN_AT_ONCE = 4;

export async function planCopy(
  source: RegistryClient,
  repository: string,
  digest: Digest,
  options: PlanOptions,
): Promise<CopyPlan> {
  const image = await planImage(source, repository, digest);
  return options.includeReferrers ? addReferrers(source, repository, image, options.referrerDepth) : image;
}

/** The image alone: every manifest reachable from the digest and every blob they name. */
export async function planImage(source: RegistryClient, repository: string, digest: Digest): Promise<CopyPlan> {
  const walk = new Walk(source, repository);
  await walk.manifest(digest, undefined);
  return walk.plan(walk.manifests[walk.manifests.length - 1]!);
}

/**
 * The plan with the referrers of its manifests added (and theirs, `depth` deep), each after its
 * subject, and the blobs they name after the image's. Asked of the source while the image's blobs
 * copy: nothing of the image waits for it.
 */
export async function addReferrers(
  source: RegistryClient,
  repository: string,
  image: CopyPlan,
  depth = 3,
): Promise<CopyPlan> {
  const walk = new Walk(source, repository, image);
  let subjects = image.manifests.map((m) => m.digest);
  // The first subject is asked through the referrers API, and its answer also says whether the
  // source has the API: without it (404) every subject is read through the tag schema at once,
  // rather than answering 404 for each first. No separate probe is sent.
  const first = subjects[0];
  const answered = first === undefined ? undefined : await referrersByApi(source, repository, first);
  const via: ReferrerSource = answered === undefined ? 'tagSchema' : 'auto';
  for (let level = 0; level < depth && subjects.length > 0; level++) {
    const found: Digest[] = [];
    // The lists of one level are read at once; their referrers are walked in the subjects' order.
    const lists = new Map<Digest, Descriptor[]>();
    if (level === 0 && first !== undefined && answered !== undefined) lists.set(first, answered);
    await runPool(
      subjects.filter((subject) => !lists.has(subject)),
      REFERRER_LISTS_AT_ONCE,
      async (subject) => {
        lists.set(subject, await listReferrers(source, repository, subject, {}, via));
      },
    );
    for (const subject of subjects) {
      for (const referrer of lists.get(subject)!) {
        if (!isManifestMediaType(referrer.mediaType)) continue;
        const node = await walk.manifest(referrer.digest, subject);
        // A listed referrer whose manifest names another subject is not one; it is not copied as one.
        if (node?.subject !== undefined) found.push(node.digest);
      }
    }
    subjects = found;
  }
  return walk.plan(image.root);
}

/** Manifests read and blobs found so far, each once. */
class Walk {
  readonly manifests: PlannedManifest[] = [];
  private readonly seen = new Set<Digest>();
  private readonly blobs = new Map<Digest, Descriptor>();
  private readonly foreign = new Map<Digest, Descriptor>();
  /** Manifests read ahead (an index's children, read at once), taken by manifest() in walk order. */
  private readonly readAhead = new Map<Digest, ManifestResult>();

  constructor(
    private readonly source: RegistryClient,
    private readonly repository: string,
    from?: CopyPlan,
  ) {
    for (const m of from?.manifests ?? []) {
      this.manifests.push(m);
      this.seen.add(m.digest);
    }
    for (const b of from?.blobs ?? []) this.blobs.set(b.digest, b);
    for (const b of from?.skippedForeign ?? []) this.foreign.set(b.digest, b);
  }

  async manifest(wanted: Digest, subject: Digest | undefined): Promise<PlannedManifest | undefined> {
    if (this.seen.has(wanted)) return undefined;
    this.seen.add(wanted);
    const read = this.readAhead.get(wanted) ?? (await this.source.getManifest(this.repository, wanted));
    this.readAhead.delete(wanted);
    if (read.manifest.kind === 'index') {
      // The children are read a few at once (an index of many platforms is not one round trip per
      // platform), then walked in the index's order: the plan does not depend on which answer came first.
      const unread = [
        ...new Set(read.manifest.manifests.filter((c) => isManifestMediaType(c.mediaType)).map((c) => c.digest)),
      ].filter((digest) => !this.seen.has(digest));
      await runPool(unread, CHILDREN_AT_ONCE, async (digest) => {
        this.readAhead.set(digest, await this.source.getManifest(this.repository, digest));
      });
      for (const child of read.manifest.manifests) {
        if (isManifestMediaType(child.mediaType)) await this.manifest(child.digest, undefined);
        else this.blobs.set(child.digest, child);
      }
    } else {
      for (const blob of [read.manifest.config, ...read.manifest.layers]) {
        if (isForeign(blob.mediaType)) this.foreign.set(blob.digest, blob);
        else if (!this.blobs.has(blob.digest)) this.blobs.set(blob.digest, blob);
      }
    }
    const refersTo = subject !== undefined && read.manifest.subject?.digest === subject;
    const node: PlannedManifest = {
      digest: read.digest,
      mediaType: read.mediaType,
      bytes: new Uint8Array(read.bytes),
      manifest: read.manifest,
      ...(refersTo ? { subject } : {}),
    };
    this.manifests.push(node);
    return node;
  }

  plan(root: PlannedManifest): CopyPlan {
    return {
      root,
      manifests: [...this.manifests],
      blobs: [...this.blobs.values()],
      skippedForeign: [...this.foreign.values()],
    };
  }
}

function isForeign(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('nondistributable');
}
