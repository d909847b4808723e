import { captureDigest } from '../../capture/resolve';
import { digestReference, formatReference } from '../../reference/reference';
import type { TaskContext } from '../context';
import { registryClientFor } from '../connection';
import { readCaptureInputs } from './inputs';
import { captureSummary } from './summary';

// DigestCapture@1: resolve the pushed tag to the digest the registry holds, check it against what
// the build reported (src/capture/), and hand it to the rest of the run as output variables.

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
