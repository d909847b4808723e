import type { Digest } from '../src/reference/digest';
import { sha256Of } from '../src/reference/digest';
import { uploadBlob } from '../src/registry/blob-upload';
import type { RegistryClient } from '../src/registry/client';
import { OCI_MANIFEST } from '../src/registry/manifest-parse';
import { pushReferrer } from '../src/registry/referrers';

// An OCI artifact that refers to an image (a signature, an SBOM), the way tests make one: the empty
// config, one layer holding the payload, and the subject; pushed with the project's pushReferrer,
// so a registry without the referrers API gets the tag-schema index as well.

export interface Artifact {
  /** Its artifactType, also the media type of its one layer. */
  readonly artifactType: string;
  /** The layer's content. */
  readonly payload: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PushedReferrer {
  readonly digest: Digest;
  /** The manifest's bytes as pushed. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

/** Pushes `artifact` to `repository` as a referrer of `subject`, which must be there (its size is read). */
export async function pushArtifactReferrer(
  client: RegistryClient,
  repository: string,
  subject: { readonly digest: Digest; readonly mediaType: string },
  artifact: Artifact,
): Promise<PushedReferrer> {
  const empty = new Uint8Array(Buffer.from('{}'));
  const payload = new Uint8Array(Buffer.from(artifact.payload));
  await uploadBlob(client, repository, sha256Of(empty), empty.byteLength, () => empty);
  await uploadBlob(client, repository, sha256Of(payload), payload.byteLength, () => payload);
  const head = await client.headManifest(repository, subject.digest);
  if (!head) throw new Error(`the subject ${subject.digest} is not in ${client.registry}/${repository}`);
  const bytes = new Uint8Array(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: artifact.artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Of(empty), size: empty.byteLength },
        layers: [{ mediaType: artifact.artifactType, digest: sha256Of(payload), size: payload.byteLength }],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: head.size },
        ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
      }),
    ),
  );
  const digest = await pushReferrer(client, repository, bytes, OCI_MANIFEST, subject.digest);
  return { digest, bytes };
}
