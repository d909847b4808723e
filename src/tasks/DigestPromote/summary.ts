import type { ImportPromoteResult } from '../../promote/import';
import type { PromoteResult } from '../../promote/promote';
import { roundedSize } from '../../size';
import { inlineCode, keyValueTable } from '../markdown';
import type { PromotedLock } from '../../acr/locks';

// The build summary of a promotion: what is now where, what moved, how, and whether it is locked.

export interface SummaryExtras {
  readonly includeReferrers: boolean;
  readonly lock?: PromotedLock;
}

const code = inlineCode;

export function promoteSummary(
  result: PromoteResult | ImportPromoteResult,
  source: string,
  ref: string,
  extras: SummaryExtras,
): string {
  const imported = 'targetResource' in result ? result : undefined;
  const referrers = imported
    ? extras.includeReferrers
      ? `${result.referrers} (${imported.referrersAfterImport === 0 ? 'the import carried none' : `the target listed ${imported.referrersAfterImport} of the digest's own after the import`}; the copy path then copied what the target lacked through the agent)`
      : '0 (includeReferrers is false; ACR import does not carry referrers)'
    : String(result.referrers);
  const rows = [
    ['Source', code(source)],
    ['Target', code(ref)],
    ['Digest', `${code(result.digest)} (unchanged; read back and re-hashed at the target)`],
    ['Media type', code(result.mediaType)],
    ...(imported
      ? [
          [
            'Mode',
            `ACR import (importImage on ${code(imported.targetResource.id)}, mode ${imported.importMode}, no tags) from ${imported.importedFrom}`,
          ],
          [
            'Verified after import',
            `${imported.verifiedManifests} manifest(s) re-hashed, ${imported.verifiedBlobs} blob(s) present, before any tag was written`,
          ],
        ]
      : []),
    [
      'Manifests',
      `${result.manifests} (${result.manifestsWritten} written by the agent, the rest already there${imported ? ' after the import' : ''})`,
    ],
    ['Referrers', referrers],
    [
      'Blobs copied',
      `${result.blobsUploaded} (${roundedSize(result.bytesUploaded)})${imported ? " through the agent; the import moved the image's blobs inside Azure" : ''}`,
    ],
    ['Blobs mounted', String(result.blobsMounted)],
    ['Blobs already at the target', `${result.blobsPresent} (${roundedSize(result.bytesPresent)})`],
    ['Tags written', result.tagsWritten.length > 0 ? result.tagsWritten.map(code).join(', ') : '(none)'],
    [
      'Tags already at this digest',
      result.tagsUnchanged.length > 0 ? result.tagsUnchanged.map(code).join(', ') : '(none)',
    ],
    ...(extras.lock
      ? [
          [
            'Locked',
            `manifest${extras.lock.tags.length > 0 ? ` and ${extras.lock.tags.map(code).join(', ')}` : ''}: writeEnabled=false, deleteEnabled=false (read back)`,
          ],
        ]
      : []),
  ];
  let markdown = `### Image promoted by digest\n\n${keyValueTable(rows)}`;
  if (result.notes.length > 0) markdown += `\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`;
  return markdown;
}
