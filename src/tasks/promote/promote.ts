import { Digest } from '../../reference/digest';
import { digestReference, formatReference } from '../../reference/reference';
import { formatBytes, promote } from '../../promote/promote';
import { TaskContext } from '../agent';
import { registryClientFor } from '../connection';
import { readPromoteInputs } from './inputs';
import { promoteSummary } from './summary';

// DigestPromote@1: copy one digest, its children and its referrers to another registry or
// repository, re-verify it there, and only then hang tags on it.

export async function promoteTask(context: TaskContext): Promise<string> {
  const inputs = readPromoteInputs(context);
  const source = registryClientFor(context, inputs.source, inputs.sourceConnection, 'digest-release DigestPromote/1', 'Source');
  const target = registryClientFor(context, inputs.target, inputs.targetConnection, 'digest-release DigestPromote/1', 'Target');

  let digest: Digest;
  if (inputs.source.digest !== undefined) digest = inputs.source.digest;
  else {
    const tag = inputs.source.tag ?? 'latest';
    digest = (await source.getManifest(inputs.source.repository, tag)).digest;
    context.info(`allowTagSource: ${formatReference({ ...inputs.source, tag })} resolved once to ${digest}; that digest is what is promoted.`);
  }

  const tags = [...(inputs.target.tag !== undefined ? [inputs.target.tag] : []), ...inputs.additionalTags];
  const result = await promote(
    {
      source,
      sourceRepository: inputs.source.repository,
      digest,
      target,
      targetRepository: inputs.target.repository,
      tags,
      semverTags: inputs.semverTags,
      overwriteTags: inputs.overwriteTags,
      includeReferrers: inputs.includeReferrers,
      concurrency: inputs.concurrency,
    },
    { info: (m) => context.info(m), warning: (m) => context.warning(m) },
  );

  const ref = digestReference(inputs.target, result.digest);
  const sourceRef = digestReference(inputs.source, digest);
  context.info(
    result.blobsUploaded === 0
      ? `No blob bytes moved: ${result.blobsPresent} blob(s) already at the target${result.blobsMounted > 0 ? `, ${result.blobsMounted} mounted` : ''}.`
      : `Copied ${result.blobsUploaded} blob(s), ${formatBytes(result.bytesUploaded)}; mounted ${result.blobsMounted}; ${result.blobsPresent} already at the target.`,
  );
  if (result.tagsWritten.length > 0) context.info(`Tags written: ${result.tagsWritten.join(', ')}.`);
  if (result.tagsUnchanged.length > 0) context.info(`Tags already at this digest: ${result.tagsUnchanged.join(', ')}.`);

  context.setOutput('IMAGE_DIGEST', result.digest);
  context.setOutput('IMAGE_REF', ref);
  context.setOutput('PROMOTED_BLOBS', String(result.blobsUploaded + result.blobsMounted));
  context.setOutput('PROMOTED_BYTES', String(result.bytesUploaded));
  context.uploadSummary('DigestPromote', promoteSummary(result, sourceRef, ref));
  return `Promoted ${sourceRef} to ${ref}.`;
}
