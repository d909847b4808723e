import { DigestReleaseError } from '../errors';
import { readLocalFile } from '../files/read';
import { isRecord } from '../json';
import type { Digest } from '../reference/digest';
import { isDigest } from '../reference/digest';
import type { ImageReference } from '../reference/reference';
import { formatReference, parseReference, tagOrDefault } from '../reference/reference';

// Reads the digest a build tool reported: a `docker buildx build --metadata-file` JSON (its
// "containerimage.digest"), a `docker buildx bake --metadata-file` JSON (one such object per
// target), or the plain digest that `skopeo copy --digestfile` writes.

const DIGEST_KEY = 'containerimage.digest';
const NAME_KEY = 'image.name';

/**
 * The most a metadata file may hold, far above what the tools write: buildx a few KiB (more with its
 * provenance inline), skopeo 71 bytes.
 */
export const METADATA_FILE_LIMIT = 16 * 1024 * 1024;

export function digestFromMetadataFile(path: string, image: ImageReference): Digest {
  const text = readLocalFile(path, {
    what: `The input metadataFile names "${path}"`,
    limit: METADATA_FILE_LIMIT,
    kind: 'a build metadata file',
    code: 'METADATA_FILE',
    fix: 'Check the path, and that the build step wrote it (docker buildx build --metadata-file, skopeo copy --digestfile).',
  }).toString('utf8');
  const trimmed = text.trim();
  if (isDigest(trimmed)) return trimmed;

  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    throw notUnderstood(
      path,
      'it is neither a digest (as skopeo --digestfile writes) nor JSON (as buildx --metadata-file writes)',
    );
  }
  if (!isRecord(doc)) throw notUnderstood(path, 'the JSON is not an object');
  if (DIGEST_KEY in doc) return digestIn(doc, path);

  // bake: { "<target>": { "containerimage.digest": ..., "image.name": "a,b" }, ... }
  const targets = Object.entries(doc).filter(
    (entry): entry is [string, Record<string, unknown>] => isRecord(entry[1]) && DIGEST_KEY in entry[1],
  );
  if (targets.length === 0) throw notUnderstood(path, `it has no "${DIGEST_KEY}"`);
  if (targets.length === 1) return digestIn(targets[0]![1], path);
  const named = targets.filter(([, target]) => namesOf(target).some((name) => sameImage(name, image)));
  if (named.length === 1) return digestIn(named[0]![1], path);
  throw notUnderstood(
    path,
    `it holds the digests of several bake targets (${targets.map(([name]) => name).join(', ')}) and ${named.length === 0 ? 'none' : 'more than one'} of them names the image ${formatReference(image)}`,
  );
}

function namesOf(target: Record<string, unknown>): string[] {
  const names = target[NAME_KEY];
  return typeof names === 'string' ? names.split(',').map((name) => name.trim()) : [];
}

function sameImage(name: string, image: ImageReference): boolean {
  try {
    const other = parseReference(name);
    return (
      other.registry === image.registry &&
      other.repository === image.repository &&
      tagOrDefault(other) === tagOrDefault(image)
    );
  } catch {
    return false;
  }
}

function digestIn(record: Record<string, unknown>, path: string): Digest {
  const value = record[DIGEST_KEY];
  if (typeof value === 'string' && isDigest(value.trim())) return value.trim() as Digest;
  throw notUnderstood(path, `its "${DIGEST_KEY}" is ${JSON.stringify(value)}, not a sha256 digest`);
}

function notUnderstood(path: string, why: string): DigestReleaseError {
  return new DigestReleaseError(
    'METADATA_FILE',
    `The input metadataFile names "${path}", which this task cannot read: ${why}.`,
  );
}
