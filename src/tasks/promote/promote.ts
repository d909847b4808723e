import { resolveCredential } from '../../connection/credentials';
import { Digest } from '../../reference/digest';
import { ImageReference, digestReference, formatReference, repositoryName } from '../../reference/reference';
import { RegistryClient } from '../../registry/client';
import { secretsOf } from '../../registry/credential';
import { formatBytes, promote } from '../../promote/promote';
import { TaskContext } from '../agent';
import { readPromoteInputs } from './inputs';
import { promoteSummary } from './summary';

// DigestPromote@1: copy one digest, its children and its referrers to another registry or
// repository, re-verify it there, and only then hang tags on it.

function clientFor(context: TaskContext, image: ImageReference, connection: Parameters<typeof resolveCredential>[1], side: string): RegistryClient {
  const { credential, notes } = resolveCredential(image.registry, connection, context.endpoints);
  for (const secret of secretsOf(credential)) context.setSecret(secret);
  for (const note of notes) context.warning(note);
  context.info(`${side}: ${repositoryName(image)} (${credential.source}).`);
  return new RegistryClient(image.registry, { credential, userAgent: 'digest-release DigestPromote/1' });
}

export async function promoteTask(context: TaskContext): Promise<string> {
  const inputs = readPromoteInputs(context);
  const source = clientFor(context, inputs.source, inputs.sourceConnection, 'Source');
  const target = clientFor(context, inputs.target, inputs.targetConnection, 'Target');

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
