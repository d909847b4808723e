import { getTagProperties, updateTagProperties } from '../acr/properties';
import { DigestReleaseError } from '../errors';
import { artifactManifest, uploadArtifactBlobs } from '../evidence/artifact';
import type { JsonValue } from '../evidence/canonical';
import { canonicalBytes } from '../evidence/canonical';
import { isRecord } from '../json';
import type { Digest } from '../reference/digest';
import { isDigest } from '../reference/digest';
import { readSmallBlob } from '../registry/blobs';
import type { RegistryClient } from '../registry/client';
import { findManifest, putManifest } from '../registry/manifests';
import { OCI_MANIFEST } from '../registry/manifest-parse';

// DigestRetain's record of the manifests it protected itself, kept in the repository it protects,
// so that it only ever re-enables deletes it disabled: a manifest whose deleteEnabled was already
// false when a run wanted it protected is someone else's lock and never appears here.
//
// The record is an OCI artifact (artifactType below, one JSON layer) under the tag `digest-retain`,
// whose own tag is delete-locked so a clean-up by tag leaves it alone; each write moves the tag to a
// new manifest and leaves the old one untagged, for the clean-up of untagged manifests to take.
// Each protected manifest lists the environments whose releases need it (claims), so a run for one
// environment never releases what another environment's run keeps, and the releases it belongs to.

export const RECORD_TAG = 'digest-retain';
export const RECORD_TYPE = 'application/vnd.digest-release.retain.record.v1+json';
const RECORD_SCHEMA = 'https://digest-release.dev/retain/record/v1';
/** A record of some thousand manifests is a few hundred KiB. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export interface ProtectedManifest {
  readonly digest: Digest;
  /** When this task last set deleteEnabled=false on it, and in which run. */
  readonly protectedAt: string;
  readonly protectedBy: string | null;
  /** Its writeEnabled then: a later false is someone else's lock. */
  readonly writeEnabled: boolean;
  /** The environments (as the evidence names them) whose kept releases need it. */
  readonly claims: readonly string[];
  /** The release digests it belongs to (itself, the index it is a platform of, the digest it is evidence of). */
  readonly releases: readonly Digest[];
}

export interface ProtectionRecord {
  readonly manifests: readonly ProtectedManifest[];
}

export interface ReadRecord {
  readonly record: ProtectionRecord;
  /** The record manifest the tag named; undefined when there is none. */
  readonly digest?: Digest;
  /** Why a record found was not used (it names another repository), for a warning. */
  readonly ignored?: string;
}

export const EMPTY_RECORD: ProtectionRecord = { manifests: [] };

export async function readRecord(client: RegistryClient, repository: string): Promise<ReadRecord> {
  const where = `${client.registry}/${repository}:${RECORD_TAG}`;
  // No record tag (or no repository yet) is a first run: nothing protected by this task so far.
  const result = await findManifest(client, repository, RECORD_TAG);
  if (result === undefined) return { record: EMPTY_RECORD };
  const invalid = (why: string): DigestReleaseError =>
    new DigestReleaseError(
      'RECORD_INVALID',
      `The tag ${where} holds ${why}, so it is not known which delete locks DigestRetain set itself and nothing was changed. ` +
        `If the tag was pushed by someone else, move it away (DigestRetain keeps its record of what it protected there); if the record is damaged, delete the tag: ` +
        'the next run starts a new record, and manifests protected before stay protected until someone enables their deletes.',
    );
  const { manifest } = result;
  if (manifest.kind !== 'image' || manifest.artifactType !== RECORD_TYPE) {
    throw invalid(
      `a manifest that is not DigestRetain's record (${manifest.kind === 'image' ? `artifactType ${manifest.artifactType ?? 'none'}` : 'an index'})`,
    );
  }
  const layer = manifest.layers.find((l) => l.mediaType === RECORD_TYPE);
  if (layer === undefined) throw invalid('a record manifest without its record layer');
  const bytes = await readSmallBlob(client, repository, layer, MAX_RECORD_BYTES, () =>
    invalid(`a record larger than ${MAX_RECORD_BYTES} bytes`),
  );
  const doc = parseRecordDocument(bytes, invalid);
  if (doc.registry !== client.registry || doc.repository !== repository) {
    return {
      record: EMPTY_RECORD,
      digest: result.digest,
      ignored: `The record under ${where} was written for ${doc.registry}/${doc.repository} (copied along with the repository?); the locks it names are not this repository's, so it is not used and will be replaced.`,
    };
  }
  return { record: { manifests: doc.manifests }, digest: result.digest };
}

function parseRecordDocument(
  bytes: Uint8Array,
  invalid: (why: string) => DigestReleaseError,
): { registry: string; repository: string; manifests: ProtectedManifest[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid('a record that is not JSON');
  }
  if (!isRecord(doc) || doc._type !== RECORD_SCHEMA) throw invalid(`a record that is not of the type ${RECORD_SCHEMA}`);
  if (typeof doc.registry !== 'string' || typeof doc.repository !== 'string' || !Array.isArray(doc.manifests))
    throw invalid('a record without registry, repository and manifests');
  const digests = (value: unknown): Digest[] | undefined =>
    Array.isArray(value) && value.every((d): d is Digest => typeof d === 'string' && isDigest(d)) ? value : undefined;
  const manifests = doc.manifests.map((entry: unknown, i): ProtectedManifest => {
    const bad = (): DigestReleaseError => invalid(`a record whose manifests[${i}] is not a protected manifest`);
    if (!isRecord(entry) || typeof entry.digest !== 'string' || !isDigest(entry.digest)) throw bad();
    const releases = digests(entry.releases);
    const claims = entry.claims;
    if (typeof entry.protectedAt !== 'string' || typeof entry.writeEnabled !== 'boolean' || releases === undefined)
      throw bad();
    if (!Array.isArray(claims) || !claims.every((c): c is string => typeof c === 'string')) throw bad();
    if (entry.protectedBy !== null && typeof entry.protectedBy !== 'string') throw bad();
    return {
      digest: entry.digest,
      protectedAt: entry.protectedAt,
      protectedBy: entry.protectedBy,
      writeEnabled: entry.writeEnabled,
      claims,
      releases,
    };
  });
  return { registry: doc.registry, repository: doc.repository, manifests };
}

export interface RecordWriter {
  readonly writtenAt: string;
  readonly run: string | null;
}

export function recordDocument(
  client: RegistryClient,
  repository: string,
  record: ProtectionRecord,
  writer: RecordWriter,
): Uint8Array<ArrayBuffer> {
  const manifests: JsonValue[] = [...record.manifests]
    .sort((a, b) => (a.digest < b.digest ? -1 : 1))
    .map((m) => ({
      digest: m.digest,
      protectedAt: m.protectedAt,
      protectedBy: m.protectedBy,
      writeEnabled: m.writeEnabled,
      claims: [...m.claims].sort(),
      releases: [...m.releases].sort(),
    }));
  return canonicalBytes({
    _type: RECORD_SCHEMA,
    registry: client.registry,
    repository,
    writtenAt: writer.writtenAt,
    writtenBy: writer.run,
    manifests,
  });
}

/**
 * Writes the record under its tag and makes sure the tag cannot be deleted; the digest of the
 * record manifest. The tag is delete-locked only (writeEnabled stays true): the next run moves it.
 */
export async function writeRecord(
  client: RegistryClient,
  repository: string,
  record: ProtectionRecord,
  writer: RecordWriter,
): Promise<Digest> {
  const bytes = recordDocument(client, repository, record, writer);
  const artifact = { artifactType: RECORD_TYPE, layer: { mediaType: RECORD_TYPE, bytes } };
  await uploadArtifactBlobs(client, repository, artifact);
  const digest = await putManifest(client, repository, RECORD_TAG, artifactManifest(artifact), OCI_MANIFEST);
  const tag = await getTagProperties(client, repository, RECORD_TAG);
  if (tag.attributes.deleteEnabled) await updateTagProperties(client, repository, RECORD_TAG, { deleteEnabled: false });
  return digest;
}
