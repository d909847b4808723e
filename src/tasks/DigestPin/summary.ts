import type { BatchPlan, Finding } from '../../pin/batch';
import type { Mode } from '../../pin/file-plan';
import { inlineCode, markdownTable } from '../markdown';

// The build summary a release manager reads: what was pinned where, or why the gate failed.

const code = inlineCode;

function findingTable(heading: string, findings: readonly Finding[]): string {
  return markdownTable(
    ['Where', heading],
    findings.map((f) => [`${f.file}:${f.line}`, f.message]),
  );
}

/** `allowedRegistries` says whether an allowedRegistries rule was set, so a pass may claim it. */
export function pinSummary(plan: BatchPlan, mode: Mode, allowedRegistries: boolean): string {
  let markdown = '';
  if (mode === 'pin' && plan.errors.length > 0) {
    markdown += `### Nothing was pinned\n\n${plan.errors.length} problems stop the pinning; no file was changed.\n\n${findingTable('Problem', plan.errors)}`;
  } else if (mode === 'pin') {
    const pinned = plan.files.flatMap((file) =>
      file.images.filter((image) => image.target !== undefined).map((image) => ({ file, image })),
    );
    markdown += `### Images pinned to digests\n\n${plan.pinnedCount} image references name their release digest; ${plan.changedFiles.length} of ${plan.files.length} files changed.\n`;
    if (pinned.length > 0) {
      markdown += `\n${markdownTable(
        ['Where', 'Was', 'Now'],
        pinned.map(({ file, image }) => [
          `${file.display}:${image.line}`,
          code(image.before),
          image.changed ? code(image.after) : '(unchanged)',
        ]),
      )}`;
    }
  } else {
    const images = plan.files.reduce((n, file) => n + file.images.length, 0);
    markdown +=
      plan.errors.length === 0
        ? `### Every image is pinned\n\n${images} image references in ${plan.files.length} files, all pinned by digest${allowedRegistries ? ' and from allowed registries' : ''}.\n`
        : `### Images not pinned, not allowed or not understood\n\n${plan.errors.length} problems in ${images} image references in ${plan.files.length} files.\n\n${findingTable('Problem', plan.errors)}`;
  }
  if (plan.warnings.length > 0) markdown += `\n${findingTable('Warning', plan.warnings)}`;
  return markdown;
}
