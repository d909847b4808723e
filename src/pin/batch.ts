import { DigestReleaseError, isDigestReleaseError } from '../errors';
import type { FilePlan, ImageRecord, Mode, PinOptions, ProblemKind } from './file-plan';
import { planFile } from './file-plan';
import type { PinTarget } from './targets';

// Plans every file before anything is written: one file that is not YAML fails the batch, and
// the batch's verdict (what fails the task, what is only worth a warning) is decided here.

export interface SourceFile {
  readonly path: string;
  readonly display: string;
  readonly text: string;
}

export interface Finding {
  readonly file: string;
  readonly line: number;
  readonly message: string;
  /** The image's problem; none for a file-wide finding (a Helm template). */
  readonly kind?: ProblemKind;
}

export interface BatchPlan {
  readonly files: readonly FilePlan[];
  /** images lines that matched no image in any file. */
  readonly unmatched: readonly PinTarget[];
  /**
   * What fails the task: disallowed images always; in pin mode also targeted images that cannot be
   * written in place; in check mode also unpinned and not understood ones.
   */
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** Image references that name the digest of an images line (pin mode) or any digest (check mode). */
  readonly pinnedCount: number;
  readonly changedFiles: readonly FilePlan[];
}

const FAILS: Record<Mode, ReadonlySet<ProblemKind>> = {
  pin: new Set<ProblemKind>(['disallowed', 'not-written']),
  check: new Set<ProblemKind>(['unpinned', 'disallowed', 'other-digest', 'not-understood', 'not-written']),
};

export function planBatch(sources: readonly SourceFile[], options: PinOptions): BatchPlan {
  const files: FilePlan[] = [];
  const invalid: string[] = [];
  for (const source of sources) {
    try {
      files.push(planFile(source.path, source.display, source.text, options));
    } catch (err) {
      if (!isDigestReleaseError(err, 'YAML_PARSE')) throw err;
      invalid.push(err.message);
    }
  }
  if (invalid.length > 0) {
    const untouched = options.mode === 'pin' ? ' No file was changed.' : '';
    throw new DigestReleaseError('YAML_PARSE', `${invalid.join('\n')}${untouched}`);
  }

  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const matched = new Set<PinTarget>();
  let pinnedCount = 0;
  for (const file of files) {
    if (file.templateLine !== undefined) {
      const finding = {
        file: file.display,
        line: file.templateLine,
        message:
          'this is a Helm template ({{ }} outside string values), which DigestPin does not evaluate; it was left as it is. Pin the chart values (values.yaml) or the manifests helm template renders, and leave templates out of the files input.',
      };
      (options.mode === 'check' ? errors : warnings).push(finding);
      continue;
    }
    for (const image of file.images) {
      if (image.target !== undefined) matched.add(image.target);
      if (image.pinned && (options.mode === 'check' || image.target !== undefined)) pinnedCount++;
      for (const problem of image.problems) {
        const finding = {
          file: file.display,
          line: image.line,
          message: `${image.context}: ${problem.message}`,
          kind: problem.kind,
        };
        (FAILS[options.mode].has(problem.kind) ? errors : warnings).push(finding);
      }
    }
  }
  return {
    files,
    unmatched: options.targets.filter((target) => !matched.has(target)),
    errors,
    warnings,
    pinnedCount,
    changedFiles: files.filter((file) => file.updated !== file.original),
  };
}

export function formatFinding(finding: Finding): string {
  return `${finding.file}:${finding.line}: ${finding.message}`;
}

/** Every image found, for the typo guard's message: which names the files do hold. */
export function imagesSeen(plan: BatchPlan): string[] {
  const names = new Set<string>();
  for (const file of plan.files) for (const image of file.images as readonly ImageRecord[]) names.add(image.before);
  return [...names].sort();
}
