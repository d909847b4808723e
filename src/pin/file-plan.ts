import { applyEdits } from './edits';
import type { HelmDigestKey } from './helmkey';
import type { RegistryRule } from './registries';
import type { Draft } from './site-plan';
import { planSite } from './site-plan';
import type { PinTarget } from './targets';
import { documentSites } from './walk/classify';
import { parseYamlFile } from './yamlfile';

// Plans one file in memory: finds its images, decides for each whether it is pinned, allowed and
// understood, and (in pin mode) computes the new text. Nothing is written here.

export type Mode = 'pin' | 'check';

export interface PinOptions {
  readonly mode: Mode;
  readonly targets: readonly PinTarget[];
  readonly allowed: readonly RegistryRule[];
  readonly keepTag: boolean;
  readonly helmKey: HelmDigestKey;
}

/** not-written: an image an images line targets that cannot be rewritten in place (pin mode). */
export type ProblemKind = 'unpinned' | 'disallowed' | 'other-digest' | 'not-understood' | 'not-written';

export interface Problem {
  readonly kind: ProblemKind;
  readonly message: string;
}

export interface ImageRecord {
  readonly line: number;
  readonly context: string;
  /** The image as found, as one reference where the file splits it into keys. */
  readonly before: string;
  /** The image after pinning; equal to before when nothing changed. */
  readonly after: string;
  readonly target?: PinTarget;
  readonly pinned: boolean;
  readonly changed: boolean;
  readonly problems: readonly Problem[];
}

export interface FilePlan {
  readonly path: string;
  /** The path as messages show it (relative to the working directory when inside it). */
  readonly display: string;
  readonly original: string;
  readonly updated: string;
  readonly images: readonly ImageRecord[];
  /** Line of the first Helm template action when the file is a template DigestPin does not read. */
  readonly templateLine?: number;
}

export function planFile(path: string, display: string, text: string, options: PinOptions): FilePlan {
  const parsed = parseYamlFile(display, text);
  if (parsed.kind === 'template')
    return { path, display, original: text, updated: text, images: [], templateLine: parsed.line };
  const draft: Draft = { edits: [], planned: new Map() };
  const images: ImageRecord[] = [];
  for (const doc of parsed.documents) {
    for (const site of documentSites(doc, path, options.helmKey)) {
      const offset =
        site.kind === 'unknown'
          ? site.offset
          : site.kind === 'reference'
            ? (site.node.range?.[0] ?? 0)
            : (site.map.range?.[0] ?? 0);
      const line = parsed.lines.linePos(offset).line;
      images.push(planSite(site, line, text, options, draft));
    }
  }
  return { path, display, original: text, updated: applyEdits(text, draft.edits), images };
}
