import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DigestReleaseError, messageOf } from '../errors';

// Every file a task writes is written whole or not at all: the new bytes go to a temporary file
// beside the target first, then a rename puts it in place, so a reader never sees half a file and
// a failure leaves the old one. A batch stages every file before renaming any, so a full disk or a
// read-only folder fails before any target is touched. The rename replaces the path it is given
// and never writes through a link at it: callers pass the target with its links followed (and
// checked, see allowed-folders.ts).

export interface FileWrite {
  /** The file to replace or create, links already followed. */
  readonly path: string;
  /** The file as messages name it. */
  readonly display: string;
  readonly bytes: Uint8Array;
}

/** The mode of the file being replaced (kept); a new file gets the usual 0666 less the umask. */
function modeFor(write: FileWrite): number | undefined {
  let stat;
  try {
    stat = statSync(write.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!stat.isFile()) throw new Error(`${write.display} is not a regular file`);
  return stat.mode & 0o7777;
}

function writeTemp(write: FileWrite): string {
  const mode = modeFor(write);
  const temp = join(
    dirname(write.path),
    `.${basename(write.path)}.digest-release-${randomBytes(6).toString('hex')}.tmp`,
  );
  const fd = openSync(temp, 'wx', mode ?? 0o666);
  try {
    if (mode !== undefined) fchmodSync(fd, mode);
    let written = 0;
    while (written < write.bytes.length) written += writeSync(fd, write.bytes, written, write.bytes.length - written);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(temp);
    throw err;
  }
  closeSync(fd);
  return temp;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Writes every file or, when a temporary file cannot be written, none. */
export function writeFilesAtomically(writes: readonly FileWrite[]): void {
  const staged: Array<{ write: FileWrite; temp: string }> = [];
  try {
    for (const write of writes) staged.push({ write, temp: writeTemp(write) });
  } catch (err) {
    for (const { temp } of staged) removeQuietly(temp);
    const failed = writes[staged.length]?.display ?? 'a file';
    throw new DigestReleaseError(
      'FILE_ACCESS',
      `${failed} cannot be written (${messageOf(err)}). No file was changed.`,
      { cause: err },
    );
  }
  const done: string[] = [];
  for (const [i, { write, temp }] of staged.entries()) {
    try {
      renameSync(temp, write.path);
      done.push(write.display);
    } catch (err) {
      for (const rest of staged.slice(i)) removeQuietly(rest.temp);
      const left = staged.slice(i).map((s) => s.write.display);
      throw new DigestReleaseError(
        'FILE_ACCESS',
        `${write.display} cannot be replaced (${messageOf(err)}). Changed: ${done.join(', ') || 'none'}; unchanged: ${left.join(', ')}. Fix the permissions and run the task again.`,
        { cause: err },
      );
    }
  }
}
