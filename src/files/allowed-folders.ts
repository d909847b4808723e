import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

// Where a task may write: a set of folders, and whether a path lies in one of them once every
// symbolic link on its way is followed. A link inside a folder that leads out of every folder
// leaves them, and so does `..`: both are judged by where the path really ends up.

export interface Folder {
  /** Where the folder comes from, for messages: `Pipeline.Workspace`. */
  readonly name: string;
  readonly path: string;
  /** The folder with every link followed. */
  readonly real: string;
}

/**
 * The path with every link followed, also for a path that does not exist yet: its deepest existing
 * ancestor resolved, the rest appended. A dangling link counts as not existing: it is the path
 * itself that a rename replaces, never the link's target.
 */
export function realLocation(path: string): string {
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(at), ...missing);
    } catch {
      const parent = dirname(at);
      if (parent === at) return join(at, ...missing);
      missing.unshift(basename(at));
      at = parent;
    }
  }
}

/** Whether `path` (with links followed) is `folder` or lies below it. */
export function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

export function folder(name: string, path: string): Folder {
  const absolute = resolve(path);
  return { name, path: absolute, real: realLocation(absolute) };
}

/** The folder a real path lies in, if any. */
export function folderHolding(folders: readonly Folder[], real: string): Folder | undefined {
  return folders.find((candidate) => isWithin(candidate.real, real));
}

/** The folders for a message, leaving out those inside another one: `Pipeline.Workspace (/a/_work/1)`. */
export function foldersText(folders: readonly Folder[]): string {
  const outer = folders.filter(
    (f, i) => !folders.some((other, j) => j !== i && isWithin(other.real, f.real) && (other.real !== f.real || j < i)),
  );
  return outer.map((f) => `${f.name} (${f.path})`).join(', ');
}

/**
 * Creates the missing folders of `dir` one at a time, each checked to lie in `folders` after
 * creation (a folder that exists as a link to elsewhere is judged by its target). Returns the real
 * path of `dir`, or the first folder that lies outside.
 */
export function makeFolders(dir: string, folders: readonly Folder[]): { real: string } | { outside: string } {
  const target = resolve(dir);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    try {
      lstatSync(at);
      break;
    } catch {
      const parent = dirname(at);
      if (parent === at) break;
      missing.unshift(basename(at));
      at = parent;
    }
  }
  let real = realLocation(at);
  if (folderHolding(folders, real) === undefined) return { outside: real };
  for (const name of missing) {
    const next = join(real, name);
    try {
      mkdirSync(next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    real = realLocation(next);
    if (folderHolding(folders, real) === undefined) return { outside: real };
  }
  return { real };
}
