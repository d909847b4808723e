import { DigestReleaseError } from '../../errors';
import type { BatchPlan, Finding, SourceFile } from '../../pin/batch';
import { formatFinding, imagesSeen, planBatch } from '../../pin/batch';
import { writeFilesAtomically } from '../../files/write';
import { readText } from '../../pin/files';
import type { Mode } from '../../pin/file-plan';
import type { TaskContext } from '../context';
import { jobFolders } from '../jobfolders';
import { matchFiles } from './files';
import { readPinInputs } from './inputs';
import { pinSummary } from './summary';

// DigestPin@1: rewrite the image references in what is deployed to the release's digests, or
// (mode check) fail the stage when anything still names a tag or an untrusted registry.

function report(context: TaskContext, type: 'error' | 'warning', findings: readonly Finding[]): void {
  for (const finding of findings) context.issue(type, formatFinding(finding), finding.file, finding.line);
}

function listed(findings: readonly Finding[]): string {
  return findings.map((finding) => `  ${formatFinding(finding)}`).join('\n');
}

function unmatchedError(plan: BatchPlan, mode: Mode): DigestReleaseError {
  const seen = imagesSeen(plan);
  return new DigestReleaseError(
    'IMAGE_NOT_MATCHED',
    `The input images has lines that match no image in the files: ${plan.unmatched.map((t) => `"${t.line}"`).join(', ')}. ` +
      `The files name ${seen.length === 0 ? 'no image' : seen.join(', ')}. Fix the repository name (or use name=ref@sha256:... to pin a differently named image), add the files that use it, or set requireAllImagesMatched: false.` +
      (mode === 'pin' ? ' No file was changed.' : ''),
  );
}

export async function pinTask(context: TaskContext): Promise<string> {
  const inputs = readPinInputs(context);
  const { mode } = inputs.options;
  const matched = matchFiles(context, inputs.root, inputs.files, jobFolders(context));
  const sources: SourceFile[] = matched.map((file) => ({
    path: file.path,
    display: file.display,
    text: readText(file.path, file.display),
  }));
  context.info(`${mode === 'pin' ? 'Pinning' : 'Checking'} ${sources.length} files under ${inputs.root}.`);

  const plan = planBatch(sources, inputs.options);
  report(context, 'warning', plan.warnings);
  if (plan.files.every((file) => file.images.length === 0 && file.templateLine === undefined)) {
    context.warning(
      `The files (${sources.map((file) => file.display).join(', ')}) name no container image. Check that the files input selects the manifests, values, kustomizations or compose files that are deployed.`,
    );
  }
  context.setOutput('PINNED_COUNT', String(plan.pinnedCount));
  // Set once, failed or not: a failed batch changed no file.
  let filesChanged = 0;
  try {
    if (plan.errors.length > 0) {
      report(context, 'error', plan.errors);
      context.uploadSummary('DigestPin', pinSummary(plan, mode, inputs.options.allowed.length > 0));
      if (mode === 'check') {
        throw new DigestReleaseError(
          'PIN_CHECK_FAILED',
          `${plan.errors.length} problems with the images in ${inputs.files.join(', ')}:\n${listed(plan.errors)}\nPin these images (DigestPin@1 with mode: pin and their digests), take them from an allowed registry, and leave Helm templates out of the files input.`,
        );
      }
      if (plan.errors.every((finding) => finding.kind === 'disallowed')) {
        throw new DigestReleaseError(
          'DISALLOWED_REGISTRY',
          `${plan.errors.length} images come from registries allowedRegistries does not allow; no file was changed:\n${listed(plan.errors)}`,
        );
      }
      // An image the images input targets that stays as it is would deploy its tag: refuse the batch.
      throw new DigestReleaseError(
        'PIN_CHECK_FAILED',
        `${plan.errors.length} images cannot be pinned or are not allowed; no file was changed:\n${listed(plan.errors)}\nRewrite these images as the messages say (or take them from an allowed registry) and run again.`,
      );
    }
    if (plan.unmatched.length > 0) {
      if (inputs.requireAllImagesMatched) throw unmatchedError(plan, mode);
      for (const target of plan.unmatched)
        context.warning(`The images line "${target.line}" matched no image in the files.`);
    }

    if (mode === 'pin') {
      writeFilesAtomically(
        plan.changedFiles.map((file) => ({
          path: file.path,
          display: file.display,
          bytes: Buffer.from(file.updated, 'utf8'),
        })),
      );
      for (const file of plan.changedFiles) context.info(`Pinned ${file.display}.`);
      filesChanged = plan.changedFiles.length;
    }
  } finally {
    context.setOutput('FILES_CHANGED', String(filesChanged));
  }
  context.uploadSummary('DigestPin', pinSummary(plan, mode, inputs.options.allowed.length > 0));
  return mode === 'pin'
    ? `${plan.pinnedCount} image references pinned; ${plan.changedFiles.length} of ${sources.length} files changed.`
    : `All ${plan.pinnedCount} image references in ${sources.length} files are pinned by digest${inputs.options.allowed.length > 0 ? ' and come from allowed registries' : ''}.`;
}
