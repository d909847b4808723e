import { withMore } from '../errors';
import { Digest, sha256Of } from '../reference/digest';
import { headBlob, uploadBlob } from '../registry/blobs';
import { RegistryClient } from '../registry/client';
import { OCI_MANIFEST } from '../registry/mediatypes';
import { pushReferrer } from '../registry/referrers';
import { canonicalBytes } from './canonical';
import { IN_TOTO_MEDIA_TYPE } from './predicate';
import { SerialisedEvidence } from './statement';

// Evidence travels with the digest as an OCI artifact: an image manifest whose artifactType is
// application/vnd.in-toto+json, whose one layer is the statement and whose subject is the image.
// Anything that copies the digest with its referrers (DigestPromote, oras cp -r) carries it along.

export const EMPTY_CONFIG_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY_CONFIG = new Uint8Array(Buffer.from('{}'));

/** Annotation keys on the evidence manifest, so `oras discover` shows the gist without a download. */
export const ANNOTATION = {
  created: 'org.opencontainers.image.created',
  environment: 'dev.digest-release.evidence.environment',
  scanStatus: 'dev.digest-release.evidence.scan-status',
  evidenceDigest: 'dev.digest-release.evidence.digest',
} as const;

export interface SubjectDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

export function evidenceManifest(evidence: SerialisedEvidence, subject: SubjectDescriptor): Uint8Array<ArrayBuffer> {
  const { predicate } = evidence.statement;
  const annotations: Record<string, string> = {
    [ANNOTATION.created]: predicate.writtenAt,
    [ANNOTATION.scanStatus]: predicate.scan.status,
    [ANNOTATION.evidenceDigest]: evidence.digest,
    ...(predicate.environment !== null ? { [ANNOTATION.environment]: predicate.environment } : {}),
  };
  return canonicalBytes({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: IN_TOTO_MEDIA_TYPE,
    config: { mediaType: EMPTY_CONFIG_MEDIA_TYPE, digest: sha256Of(EMPTY_CONFIG), size: EMPTY_CONFIG.byteLength },
    layers: [{ mediaType: IN_TOTO_MEDIA_TYPE, digest: evidence.digest, size: evidence.bytes.byteLength }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  });
}

/** Pushes the evidence as a referrer of `subject`; the digest of the evidence manifest. */
export async function attachEvidence(client: RegistryClient, repository: string, evidence: SerialisedEvidence, subject: SubjectDescriptor): Promise<Digest> {
  let uploaded = 0;
  try {
    for (const blob of [EMPTY_CONFIG, evidence.bytes]) {
      const digest = sha256Of(blob);
      if ((await headBlob(client, repository, digest)) === undefined) {
        await uploadBlob(client, repository, digest, blob.byteLength, () => new Uint8Array(blob));
        uploaded++;
      }
    }
    return await pushReferrer(client, repository, evidenceManifest(evidence, subject), OCI_MANIFEST, subject.digest);
  } catch (err) {
    // Blobs, and a manifest no index lists, are harmless leftovers: nothing finds them as evidence.
    const left = uploaded > 0 ? ` ${uploaded} blob${uploaded === 1 ? '' : 's'} of it ${uploaded === 1 ? 'was' : 'were'} written to ${client.registry}/${repository}, which nothing uses.` : '';
    throw withMore(err, `The evidence is not attached to ${subject.digest}.${left} A rerun records the evidence again and attaches it.`.trim());
  }
}
