import { ConnectionInputs } from '../../connection/credentials';
import { DigestReleaseError } from '../../errors';
import { Digest, parseDigest } from '../../reference/digest';
import { ImageReference, digestReference, formatReference, parseReference, repositoryName, withDefaultTag } from '../../reference/reference';
import { RegistryClient } from '../../registry/client';
import { platformDigests } from '../../registry/manifest-parse';
import { TaskContext } from '../agent';
import { readConnectionInputs, registryClientFor } from '../connection';
import { keyValueTable, markdownTable } from '../summary';
import { digestFromMetadataFile } from './metadatafile';

// DigestCapture@1: resolve the pushed tag to the digest the registry holds, check it against what
// the build reported, and hand it to the rest of the run as output variables.

export interface CaptureInputs {
  readonly image: ImageReference;
  readonly connection: ConnectionInputs;
  readonly expectedDigest?: Digest;
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

export function readCaptureInputs(context: TaskContext): CaptureInputs {
  const image = parseReference(context.requiredInput('image', 'myacr.azurecr.io/app:$(Build.BuildId)'), 'input image');
  const expected = context.input('expectedDigest');
  const metadataFile = context.filePathInput('metadataFile');
  return {
    image,
    connection: readConnectionInputs(context),
    ...(expected ? { expectedDigest: parseDigest(expected, 'input expectedDigest') } : {}),
    ...(metadataFile ? { metadataFile } : {}),
  };
}

/** Resolves and verifies; writes nothing. */
export async function captureDigest(inputs: CaptureInputs, client: RegistryClient): Promise<CaptureResult> {
  const image = withDefaultTag(inputs.image);
  const claims: { digest: Digest; source: string }[] = [];
  if (inputs.expectedDigest) claims.push({ digest: inputs.expectedDigest, source: 'expectedDigest' });
  if (inputs.metadataFile) claims.push({ digest: digestFromMetadataFile(inputs.metadataFile, image), source: `metadataFile ${inputs.metadataFile}` });
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

export async function captureTask(context: TaskContext): Promise<string> {
  const inputs = readCaptureInputs(context);
  context.info(`Resolving ${formatReference(inputs.image)}.`);
  const client = registryClientFor(context, inputs.image, inputs.connection, 'digest-release DigestCapture/1');
  const result = await captureDigest(inputs, client);
  const ref = digestReference(result.image, result.digest);

  context.setOutput('IMAGE_DIGEST', result.digest);
  context.setOutput('IMAGE_REF', ref);
  context.setOutput('IMAGE_TAG', result.image.tag ?? '');
  context.setOutput('IMAGE_REGISTRY', result.image.registry);
  context.setOutput('IMAGE_REPOSITORY', result.image.repository);
  context.setOutput('IMAGE_MEDIA_TYPE', result.mediaType);
  context.setOutput('IMAGE_PLATFORMS', JSON.stringify(result.platforms));
  context.uploadSummary('DigestCapture', captureSummary(result, ref));

  for (const [platform, digest] of Object.entries(result.platforms)) context.info(`  ${platform}: ${digest}`);
  context.info(`Verified against ${result.verifiedAgainst.join(', ')}.`);
  return `${formatReference({ ...result.image, digest: undefined })} is ${result.digest} (${ref}).`;
}

function captureSummary(result: CaptureResult, ref: string): string {
  const rows = [
    ['Image', `\`${repositoryName(result.image)}\``],
    ['Tag', result.image.tag ? `\`${result.image.tag}\`` : '(none)'],
    ['Digest', `\`${result.digest}\``],
    ['Pinned reference', `\`${ref}\``],
    ['Media type', `\`${result.mediaType}\``],
    ['Verified against', result.verifiedAgainst.join('; ')],
  ];
  let markdown = `### Image digest captured\n\n${keyValueTable(rows)}`;
  const platforms = Object.entries(result.platforms);
  if (platforms.length > 0) {
    markdown += `\n${markdownTable(['Platform', 'Digest'], platforms.map(([p, d]) => [p, `\`${d}\``]))}`;
  }
  return markdown;
}
