import type { CaptureResult } from '../../capture/resolve';
import { repositoryName } from '../../reference/reference';
import { keyValueTable, markdownTable } from '../markdown';

// The build summary of a capture: the digest the rest of the run deploys, and what it was checked against.

export function captureSummary(result: CaptureResult, ref: string): string {
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
    markdown += `\n${markdownTable(
      ['Platform', 'Digest'],
      platforms.map(([p, d]) => [p, `\`${d}\``]),
    )}`;
  }
  return markdown;
}
