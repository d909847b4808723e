import { formatBytes, PromoteResult } from '../../promote/promote';

// The build summary of a promotion: what is now where, and what moved.

export function promoteSummary(result: PromoteResult, source: string, ref: string): string {
  const rows = [
    ['Source', `\`${source}\``],
    ['Target', `\`${ref}\``],
    ['Digest', `\`${result.digest}\` (unchanged; read back and re-hashed at the target)`],
    ['Media type', `\`${result.mediaType}\``],
    ['Manifests', `${result.manifests} (${result.manifestsWritten} written, the rest already there)`],
    ['Referrers', String(result.referrers)],
    ['Blobs copied', `${result.blobsUploaded} (${formatBytes(result.bytesUploaded)})`],
    ['Blobs mounted', String(result.blobsMounted)],
    ['Blobs already at the target', `${result.blobsPresent} (${formatBytes(result.bytesPresent)})`],
    ['Tags written', result.tagsWritten.length > 0 ? result.tagsWritten.map((t) => `\`${t}\``).join(', ') : '(none)'],
    ['Tags already at this digest', result.tagsUnchanged.length > 0 ? result.tagsUnchanged.map((t) => `\`${t}\``).join(', ') : '(none)'],
  ];
  let markdown = `### Image promoted by digest\n\n| | |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`;
  if (result.notes.length > 0) markdown += `\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`;
  return markdown;
}
