import type { Digest } from '../reference/digest';
import { sha256Of } from '../reference/digest';
import { headBlob } from '../registry/blobs';
import { uploadBlob } from '../registry/blob-upload';
import type { RegistryClient } from '../registry/client';
import { OCI_MANIFEST } from '../registry/manifest-parse';
import type { JsonValue } from './canonical';
import { canonicalBytes } from './canonical';

// What this extension writes into a registry besides images (release evidence, DigestRetain's
// record) is an OCI artifact of the one shape the image spec recommends: an image manifest with an
// artifactType, the empty config and one layer holding the document, in canonical JSON so the same
// facts give the same digest.

export const EMPTY_CONFIG_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY_CONFIG = new Uint8Array(Buffer.from('{}'));

export interface ArtifactDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

export interface Artifact {
  readonly artifactType: string;
  /** The document the one layer holds, and its media type. */
  readonly layer: { readonly mediaType: string; readonly bytes: Uint8Array };
  /** The manifest the artifact is about (a referrer), if any. */
  readonly subject?: ArtifactDescriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function artifactManifest(artifact: Artifact): Uint8Array<ArrayBuffer> {
  const { subject, annotations } = artifact;
  const manifest: Record<string, JsonValue> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: artifact.artifactType,
    config: { mediaType: EMPTY_CONFIG_MEDIA_TYPE, digest: sha256Of(EMPTY_CONFIG), size: EMPTY_CONFIG.byteLength },
    layers: [
      {
        mediaType: artifact.layer.mediaType,
        digest: sha256Of(artifact.layer.bytes),
        size: artifact.layer.bytes.byteLength,
      },
    ],
  };
  if (subject !== undefined)
    manifest.subject = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
  if (annotations !== undefined) manifest.annotations = { ...annotations };
  return canonicalBytes(manifest);
}

/** Uploads the blobs of an artifact the repository does not have yet (the empty config, the document). */
export async function uploadArtifactBlobs(
  client: RegistryClient,
  repository: string,
  artifact: Artifact,
): Promise<void> {
  for (const blob of [EMPTY_CONFIG, artifact.layer.bytes]) {
    const digest = sha256Of(blob);
    if ((await headBlob(client, repository, digest)) === undefined) {
      await uploadBlob(client, repository, digest, blob.byteLength, () => new Uint8Array(blob));
    }
  }
}
