import { Digest } from '../reference/digest';
import { RegistryClient } from '../registry/client';
import { Descriptor, Manifest, isManifestMediaType } from '../registry/manifest-parse';
import { listReferrers } from '../registry/referrers';

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

export async function planCopy(source: RegistryClient, repository: string, digest: Digest, options: PlanOptions): Promise<CopyPlan> {
  const manifests: PlannedManifest[] = [];
  const seen = new Set<Digest>();
  const blobs = new Map<Digest, Descriptor>();
  const foreign = new Map<Digest, Descriptor>();

  const walk = async (wanted: Digest, subject: Digest | undefined): Promise<PlannedManifest | undefined> => {
    if (seen.has(wanted)) return undefined;
    seen.add(wanted);
    const read = await source.getManifest(repository, wanted);
    if (read.manifest.kind === 'index') {
      for (const child of read.manifest.manifests) {
        if (isManifestMediaType(child.mediaType)) await walk(child.digest, undefined);
        else blobs.set(child.digest, child);
      }
    } else {
      for (const blob of [read.manifest.config, ...read.manifest.layers]) {
        if (isForeign(blob.mediaType)) foreign.set(blob.digest, blob);
        else if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob);
      }
    }
    const refersTo = subject !== undefined && read.manifest.subject?.digest === subject;
    const node: PlannedManifest = { digest: read.digest, mediaType: read.mediaType, bytes: new Uint8Array(read.bytes), manifest: read.manifest, ...(refersTo ? { subject } : {}) };
    manifests.push(node);
    return node;
  };

  await walk(digest, undefined);
  const root = manifests[manifests.length - 1]!;

  if (options.includeReferrers) {
    let subjects = manifests.map((m) => m.digest);
    for (let depth = 0; depth < (options.referrerDepth ?? 3) && subjects.length > 0; depth++) {
      const found: Digest[] = [];
      for (const subject of subjects) {
        for (const referrer of await listReferrers(source, repository, subject)) {
          if (!isManifestMediaType(referrer.mediaType)) continue;
          const node = await walk(referrer.digest, subject);
          // A listed referrer whose manifest names another subject is not one; it is not copied as one.
          if (node?.subject !== undefined) found.push(node.digest);
        }
      }
      subjects = found;
    }
  }
  return { root, manifests, blobs: [...blobs.values()], skippedForeign: [...foreign.values()] };
}

function isForeign(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('nondistributable');
}
