import { DigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import type { ImageReference } from '../reference/reference';
import { formatReference, withDefaultTag } from '../reference/reference';
import type { RegistryClient } from '../registry/client';
import { platformDigests } from '../registry/manifest-parse';
import { digestFromMetadataFile } from './metadatafile';

// What DigestCapture@1 knows after a push: the digest the registry holds under the tag, checked
// against every digest the build reported (expectedDigest, a metadata file, a digest in the image
// reference itself). Reads the registry and the metadata file; writes nothing.

export interface CaptureRequest {
  readonly image: ImageReference;
  readonly expectedDigest?: Digest;
  /** A build tool's metadata file (buildx --metadata-file, skopeo --digestfile). */
  readonly metadataFile?: string;
}

export interface CaptureResult {
  readonly image: ImageReference;
  readonly digest: Digest;
  readonly mediaType: string;
  /** `os/arch[/variant]` to digest for an index; empty for a single manifest. */
  readonly platforms: Readonly<Record<string, Digest>>;
  /** What the digest was checked against, for the log and the summary. */
  readonly verifiedAgainst: readonly string[];
}

/** Resolves and verifies; writes nothing. */
export async function captureDigest(request: CaptureRequest, client: RegistryClient): Promise<CaptureResult> {
  const image = withDefaultTag(request.image);
  const claims: { digest: Digest; source: string }[] = [];
  if (request.expectedDigest) claims.push({ digest: request.expectedDigest, source: 'expectedDigest' });
  if (request.metadataFile)
    claims.push({
      digest: digestFromMetadataFile(request.metadataFile, image),
      source: `metadataFile ${request.metadataFile}`,
    });
  if (image.digest) claims.push({ digest: image.digest, source: 'the digest in the image input' });

  const selector = image.tag ?? image.digest!;
  const result = await client.getManifest(image.repository, selector);
  const where = formatReference({ ...image, digest: undefined });
  for (const claim of claims) {
    if (claim.digest !== result.digest) {
      throw new DigestReleaseError(
        'EXPECTED_DIGEST_MISMATCH',
        `The registry holds ${result.digest} under ${where}, but ${claim.source} says ${claim.digest}. ` +
          'The tag was moved after the build pushed it, or the build pushed somewhere else. Do not release this tag: find out who pushed over it, then push and capture again.',
      );
    }
  }
  return {
    image,
    digest: result.digest,
    mediaType: result.mediaType,
    platforms: result.manifest.kind === 'index' ? platformDigests(result.manifest) : {},
    verifiedAgainst: ['the sha256 of the manifest bytes the registry served', ...claims.map((claim) => claim.source)],
  };
}
