import { closeSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { DigestReleaseError, messageOf } from '../errors';

// File I/O for DigestPin: read as strict UTF-8, write atomically. A batch is written in two steps:
// every new text to a temporary file beside its target first, then each renamed over its target,
// so a full disk or a read-only folder fails before any target is touched.

const decoder = new TextDecoder('utf-8', { fatal: true });

export function readText(path: string, display: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DigestReleaseError('FILE_ACCESS', `${display} cannot be read: ${messageOf(err)}.`, { cause: err });
  }
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new DigestReleaseError('FILE_ACCESS', `${display} is not UTF-8 text; DigestPin reads YAML, which is UTF-8. Leave it out of the files input.`, { cause: err });
  }
}

export interface FileWrite {
  readonly path: string;
  readonly display: string;
  readonly text: string;
}

function writeTemp(target: string, text: string, mode: number): string {
  const temp = join(dirname(target), `.${basename(target)}.digestpin-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Writes every file or, when a temporary file cannot be written, none. Symbolic links are written through. */
export function writeAtomically(writes: readonly FileWrite[]): void {
  const staged: Array<{ write: FileWrite; target: string; temp: string }> = [];
  try {
    for (const write of writes) {
      const target = realpathSync(write.path);
      const mode = statSync(target).mode & 0o7777;
      staged.push({ write, target, temp: writeTemp(target, write.text, mode) });
    }
  } catch (err) {
    for (const { temp } of staged) removeQuietly(temp);
    const failed = writes[staged.length]?.display ?? 'a file';
    throw new DigestReleaseError('FILE_ACCESS', `${failed} cannot be written (${messageOf(err)}). No file was changed.`, { cause: err });
  }
  const done: string[] = [];
  for (const [i, { write, target, temp }] of staged.entries()) {
    try {
      renameSync(temp, target);
      done.push(write.display);
    } catch (err) {
      for (const rest of staged.slice(i)) removeQuietly(rest.temp);
      const left = staged.slice(i).map((s) => s.write.display);
      throw new DigestReleaseError(
        'FILE_ACCESS',
        `${write.display} cannot be replaced (${messageOf(err)}). Changed: ${done.join(', ') || 'none'}; unchanged: ${left.join(', ')}. Fix the permissions and run the task again; pinning is idempotent.`,
        { cause: err },
      );
    }
  }
}
