import type { Stats } from 'node:fs';
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { ErrorCode } from '../../errors';
import { DigestReleaseError } from '../../errors';
import type { Folder } from '../../files/allowed-folders';
import { folderHolding, foldersText, realLocation } from '../../files/allowed-folders';
import { fileTooLarge, notRegularFile } from '../../files/read';
import { YAML_TOTAL_LIMIT, matchedFile } from '../../pin/files';
import { sizeText } from '../../size';
import type { TaskContext } from '../context';
import { JOB_FOLDERS_FIX } from '../jobfolders';

// The `files` input: glob patterns, `!` to exclude, relative to System.DefaultWorkingDirectory
// unless absolute. Every include pattern must match a file, so a typo in a path fails the task
// instead of passing a gate that checked nothing. DigestPin reads and writes only inside the job's
// folders: a pattern that leads out of them (`../..`, an absolute path elsewhere) and a file that
// leads out through a symbolic link are refused, all of them named, before any file is read.

export interface MatchedFile {
  /** The file with every link followed: what is read, and what a write replaces. */
  readonly path: string;
  /** Relative to the working directory when inside it; messages and the summary use it. */
  readonly display: string;
  readonly size: number;
}

export function displayPath(root: string, path: string): string {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : path;
}

/**
 * A pattern with `..` resolved against the root, so that it means what it says: the task
 * library's matcher compares patterns with normalised paths, so `deploy/../deploy/*.yaml` used to
 * match nothing while the literal `deploy/../../x.yaml` was taken as written.
 */
function absolutePattern(root: string, pattern: string): string {
  return resolve(root, pattern);
}

/** The part of an absolute pattern before its first wildcard segment: the folder the match starts in. */
function literalBase(pattern: string): string {
  const segments = pattern.split(/[\\/]/);
  const wild = segments.findIndex((segment) => /[*?[{]|[+@!]\(/.test(segment));
  return wild < 0 ? pattern : segments.slice(0, wild).join(sep) || sep;
}

function outsideFolders(folders: readonly Folder[]): string {
  return `outside the job's folders (${foldersText(folders)}); DigestPin reads and writes files only there`;
}

function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    // a dangling link, or gone since it was listed: nothing to read
    return undefined;
  }
}

export function matchFiles(
  context: TaskContext,
  root: string,
  patterns: readonly string[],
  folders: readonly Folder[],
): MatchedFile[] {
  const excludes = patterns.filter((pattern) => pattern.startsWith('!'));
  const includes = patterns.filter((pattern) => !pattern.startsWith('!'));
  if (includes.length === 0) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The input files has only exclusions (${excludes.join(', ')}): add a pattern of the files to pin, for example deploy/**/*.yaml.`,
    );
  }
  const absoluteExcludes = excludes.map((pattern) => `!${absolutePattern(root, pattern.slice(1))}`);
  const refused: Array<{ code: ErrorCode; message: string }> = [];
  const byRealPath = new Map<string, MatchedFile>();
  for (const pattern of includes) {
    const absolute = absolutePattern(root, pattern);
    const base = realLocation(literalBase(absolute));
    if (folderHolding(folders, base) === undefined) {
      refused.push({
        code: 'OUTSIDE_JOB_FOLDERS',
        message: `The input files has the pattern "${pattern}", which leads to ${base}, ${outsideFolders(folders)}. Check out or download the files into ${JOB_FOLDERS_FIX} first.`,
      });
      continue;
    }
    const found = context.findMatch(root, [absolute, ...absoluteExcludes]);
    let files = 0;
    for (const path of found) {
      const stat = statOrNothing(path);
      if (stat === undefined || stat.isDirectory()) continue;
      files++;
      const display = displayPath(root, path);
      if (!stat.isFile()) {
        refused.push(notRegularFile(matchedFile(display), stat));
        continue;
      }
      const real = realpathSync(path);
      if (folderHolding(folders, real) === undefined) {
        const how = lstatSync(path).isSymbolicLink()
          ? 'a symbolic link that leads to'
          : 'which leads through a symbolic link to';
        refused.push({
          code: 'OUTSIDE_JOB_FOLDERS',
          message: `The input files matches ${display}, ${how} ${real}, ${outsideFolders(folders)}, never through a link that leads out. Replace the link with the file, or leave it out (!${display}).`,
        });
        continue;
      }
      if (!byRealPath.has(real)) byRealPath.set(real, { path: real, display, size: stat.size });
    }
    if (files === 0) {
      refused.push({
        code: 'INVALID_INPUT',
        message: `The input files has the pattern "${pattern}", which matches no file under ${root}${excludes.length > 0 ? ` (after the exclusions ${excludes.join(', ')})` : ''}. Fix the path; relative patterns start at System.DefaultWorkingDirectory, and ** matches folders at any depth.`,
      });
    }
  }
  // Every problem is named, not only the first; the error takes the code of the first.
  if (refused.length > 0)
    throw new DigestReleaseError(
      refused[0]!.code,
      `${refused.map((problem) => problem.message).join('\n')}\nNo file was read or changed.`,
    );

  const matched = [...byRealPath.values()].sort((a, b) => a.display.localeCompare(b.display));
  const tooLarge = matched.filter((file) => file.size > matchedFile(file.display).limit);
  if (tooLarge.length > 0)
    throw new DigestReleaseError(
      'FILE_ACCESS',
      `${tooLarge.map((file) => fileTooLarge(matchedFile(file.display), file.size).message).join('\n')}\nNo file was read or changed.`,
    );
  const total = matched.reduce((sum, file) => sum + file.size, 0);
  if (total > YAML_TOTAL_LIMIT) {
    throw new DigestReleaseError(
      'FILE_ACCESS',
      `The input files matches ${matched.length} files of ${sizeText(total)} in all, over the ${sizeText(YAML_TOTAL_LIMIT)} DigestPin reads in one step; no file was read or changed. Narrow the patterns, or split the files over several DigestPin steps.`,
    );
  }
  return matched;
}
