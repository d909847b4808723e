import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { DigestReleaseError } from '../../errors';
import { TaskContext } from '../agent';

// The `files` input: glob patterns, `!` to exclude, relative to System.DefaultWorkingDirectory
// unless absolute. Every include pattern must match a file, so a typo in a path fails the task
// instead of passing a gate that checked nothing.

export interface MatchedFile {
  readonly path: string;
  /** Relative to the working directory when inside it; messages and the summary use it. */
  readonly display: string;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function displayPath(root: string, path: string): string {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : path;
}

export function matchFiles(context: TaskContext, root: string, patterns: readonly string[]): MatchedFile[] {
  const excludes = patterns.filter((pattern) => pattern.startsWith('!'));
  const includes = patterns.filter((pattern) => !pattern.startsWith('!'));
  if (includes.length === 0) {
    throw new DigestReleaseError('INVALID_INPUT', `The input files has only exclusions (${excludes.join(', ')}): add a pattern of the files to pin, for example deploy/**/*.yaml.`);
  }
  const byRealPath = new Map<string, MatchedFile>();
  for (const pattern of includes) {
    const found = context.findMatch(root, [pattern, ...excludes]).filter(isFile);
    if (found.length === 0) {
      throw new DigestReleaseError(
        'INVALID_INPUT',
        `The input files has the pattern "${pattern}", which matches no file under ${root}${excludes.length > 0 ? ` (after the exclusions ${excludes.join(', ')})` : ''}. Fix the path; relative patterns start at System.DefaultWorkingDirectory, and ** matches folders at any depth.`,
      );
    }
    for (const path of found) {
      const real = realpathSync(path);
      if (!byRealPath.has(real)) byRealPath.set(real, { path, display: displayPath(root, path) });
    }
  }
  return [...byRealPath.values()].sort((a, b) => a.display.localeCompare(b.display));
}
