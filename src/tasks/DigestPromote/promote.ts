import type { Digest } from '../../reference/digest';
import { digestReference, formatReference, tagOrDefault } from '../../reference/reference';
import type { ImportPromoteResult } from '../../promote/import';
import { importPromotion } from '../../promote/import';
import type { PromoteRequest, PromoteResult } from '../../promote/promote';
import { promote } from '../../promote/promote';
import { roundedSize } from '../../size';
import type { TaskContext } from '../context';
import { registryClientFor, registrySignIn } from '../connection';
import { armScopeFor, sourceAccessFor } from './import';
import { readPromoteInputs } from './inputs';
import type { PromotedLock } from '../../acr/locks';
import { lockPromoted, requireLockableTarget } from './lock';
import { promoteSummary } from './summary';

// DigestPromote@1: copy one digest, its children and its referrers to another registry or
// repository (or have ACR import it), re-verify it there, only then hang tags on it, and lock it
// when asked.

export async function promoteTask(context: TaskContext): Promise<string> {
  const inputs = readPromoteInputs(context);
  // The source's credential is resolved once: its client uses it, and mode: import hands it on.
  const { client: source, credential: sourceCredential } = registrySignIn(
    context,
    inputs.source,
    inputs.sourceConnection,
    'digest-release DigestPromote/1',
    'Source',
  );
  const target = registryClientFor(
    context,
    inputs.target,
    inputs.targetConnection,
    'digest-release DigestPromote/1',
    'Target',
  );

  let digest: Digest;
  if (inputs.source.digest !== undefined) digest = inputs.source.digest;
  else {
    const tag = tagOrDefault(inputs.source);
    digest = (await source.getManifest(inputs.source.repository, tag)).digest;
    context.info(
      `allowTagSource: ${formatReference({ ...inputs.source, tag })} resolved once to ${digest}; that digest is what is promoted.`,
    );
  }

  const tags = [
    ...new Set([...(inputs.target.tag !== undefined ? [inputs.target.tag] : []), ...inputs.additionalTags]),
  ];
  const log = { info: (m: string) => context.info(m), warning: (m: string) => context.warning(m) };
  if (inputs.lockAfterPromote) await requireLockableTarget(target, inputs.target.repository, digest);

  const request: PromoteRequest = {
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
  };
  let result: PromoteResult | ImportPromoteResult;
  if (inputs.mode === 'import') {
    const targetScope = armScopeFor(context, inputs.targetConnection);
    const sourceScopes =
      inputs.sourceConnection.connectionType === 'azureRM' ? [armScopeFor(context, inputs.sourceConnection)] : [];
    result = await importPromotion(
      {
        ...request,
        targetScope,
        sourceScopes,
        sourceAccess: sourceAccessFor(context, sourceCredential, inputs.sourceConnection),
        targetInput: 'target',
      },
      log,
    );
  } else {
    result = await promote(request, log);
  }

  let lock: PromotedLock | undefined;
  if (inputs.lockAfterPromote) {
    lock = await lockPromoted(target, inputs.target, result.digest, tags);
    context.info(
      `Locked (writeEnabled=false, deleteEnabled=false, read back): the manifest ${result.digest}${lock.tags.length > 0 ? ` and the tag(s) ${lock.tags.join(', ')}` : ''}.`,
    );
  }

  const ref = digestReference(inputs.target, result.digest);
  const sourceRef = digestReference(inputs.source, digest);
  context.info(
    result.blobsUploaded === 0
      ? `No blob bytes moved: ${result.blobsPresent} blob(s) already at the target${result.blobsMounted > 0 ? `, ${result.blobsMounted} mounted` : ''}.`
      : `Copied ${result.blobsUploaded} blob(s), ${roundedSize(result.bytesUploaded)}; mounted ${result.blobsMounted}; ${result.blobsPresent} already at the target.`,
  );
  if (result.tagsWritten.length > 0) context.info(`Tags written: ${result.tagsWritten.join(', ')}.`);
  if (result.tagsUnchanged.length > 0) context.info(`Tags already at this digest: ${result.tagsUnchanged.join(', ')}.`);

  context.setOutput('IMAGE_DIGEST', result.digest);
  context.setOutput('IMAGE_REF', ref);
  context.setOutput('PROMOTED_BLOBS', String(result.blobsUploaded + result.blobsMounted));
  context.setOutput('PROMOTED_BYTES', String(result.bytesUploaded));
  context.uploadSummary(
    'DigestPromote',
    promoteSummary(result, sourceRef, ref, { includeReferrers: inputs.includeReferrers, ...(lock ? { lock } : {}) }),
  );
  const how = 'targetResource' in result ? ' by ACR import, verified at the target' : '';
  return `Promoted ${sourceRef} to ${ref}${how}${lock ? '; locked' : ''}.`;
}
