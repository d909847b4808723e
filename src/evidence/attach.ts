import { withMore } from '../errors';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import { OCI_MANIFEST } from '../registry/manifest-parse';
import { pushReferrer } from '../registry/referrers';
import type { Artifact } from './artifact';
import { artifactManifest, uploadArtifactBlobs } from './artifact';
import { IN_TOTO_MEDIA_TYPE } from './predicate';
import type { SerialisedEvidence } from './statement';

// Evidence travels with the digest as an OCI artifact: an image manifest whose artifactType is
// application/vnd.in-toto+json, whose one layer is the statement and whose subject is the image.
// Anything that copies the digest with its referrers (DigestPromote, oras cp -r) carries it along.

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

export function evidenceArtifact(evidence: SerialisedEvidence, subject: SubjectDescriptor): Artifact {
  const { predicate } = evidence.statement;
  const annotations: Record<string, string> = {
    [ANNOTATION.created]: predicate.writtenAt,
    [ANNOTATION.scanStatus]: predicate.scan.status,
    [ANNOTATION.evidenceDigest]: evidence.digest,
    ...(predicate.environment !== null ? { [ANNOTATION.environment]: predicate.environment } : {}),
  };
  return {
    artifactType: IN_TOTO_MEDIA_TYPE,
    layer: { mediaType: IN_TOTO_MEDIA_TYPE, bytes: evidence.bytes },
    subject,
    annotations,
  };
}

export function evidenceManifest(evidence: SerialisedEvidence, subject: SubjectDescriptor): Uint8Array<ArrayBuffer> {
  return artifactManifest(evidenceArtifact(evidence, subject));
}

/** Pushes the evidence as a referrer of `subject`; the digest of the evidence manifest. */
export async function attachEvidence(
  client: RegistryClient,
  repository: string,
  evidence: SerialisedEvidence,
  subject: SubjectDescriptor,
): Promise<Digest> {
  try {
    await uploadArtifactBlobs(client, repository, evidenceArtifact(evidence, subject));
    return await pushReferrer(client, repository, evidenceManifest(evidence, subject), OCI_MANIFEST, subject.digest);
  } catch (err) {
    // Blobs, and a manifest no index lists, are harmless leftovers: nothing finds them as evidence.
    throw withMore(
      err,
      `The evidence is not attached to ${subject.digest}; what of it was written to ${client.registry}/${repository} is used by nothing. A rerun records the evidence again and attaches it.`,
    );
  }
}
