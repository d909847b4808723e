import { BatchPlan, Finding } from '../../pin/batch';
import { Mode } from '../../pin/plan';

// The build summary a release manager reads: what was pinned where, or why the gate failed.

function cell(text: string): string {
  return `\`${text.replace(/\|/g, '\\|').replace(/`/g, "'")}\``;
}

function findingRows(findings: readonly Finding[]): string {
  return findings.map((f) => `| ${f.file}:${f.line} | ${f.message.replace(/\|/g, '\\|')} |`).join('\n');
}

export function pinSummary(plan: BatchPlan, mode: Mode): string {
  let markdown = '';
  if (mode === 'pin' && plan.errors.length > 0) {
    markdown += `### Nothing was pinned\n\n${plan.errors.length} problems stop the pinning; no file was changed.\n\n| Where | Problem |\n|---|---|\n${findingRows(plan.errors)}\n`;
  } else if (mode === 'pin') {
    const pinned = plan.files.flatMap((file) => file.images.filter((image) => image.target !== undefined).map((image) => ({ file, image })));
    markdown += `### Images pinned to digests\n\n${plan.pinnedCount} image references name their release digest; ${plan.changedFiles.length} of ${plan.files.length} files changed.\n`;
    if (pinned.length > 0) {
      markdown += '\n| Where | Was | Now |\n|---|---|---|\n';
      markdown += pinned.map(({ file, image }) => `| ${file.display}:${image.line} | ${cell(image.before)} | ${image.changed ? cell(image.after) : '(unchanged)'} |`).join('\n');
      markdown += '\n';
    }
  } else {
    const images = plan.files.reduce((n, file) => n + file.images.length, 0);
    markdown += plan.errors.length === 0
      ? `### Every image is pinned\n\n${images} image references in ${plan.files.length} files, all pinned by digest${plan.errors.length === 0 ? ' and from allowed registries' : ''}.\n`
      : `### Images not pinned, not allowed or not understood\n\n${plan.errors.length} problems in ${images} image references in ${plan.files.length} files.\n\n| Where | Problem |\n|---|---|\n${findingRows(plan.errors)}\n`;
  }
  if (plan.warnings.length > 0) markdown += `\n| Where | Warning |\n|---|---|\n${findingRows(plan.warnings)}\n`;
  return markdown;
}
