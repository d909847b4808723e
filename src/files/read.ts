import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { ErrorCode } from '../errors';
import { DigestReleaseError, messageOf } from '../errors';
import { sizeText } from '../size';

// Every local file a task reads (YAML to pin, a scan report, a build tool's metadata file, the
// docker config) is read through here: only a regular file, and only up to a limit for its kind,
// so `/dev/zero`, a named pipe or a huge file fails at once with a message instead of hanging or
// filling memory. The limit is checked before the first byte is read and again while reading (a
// file that grows).

export interface LocalInput {
  /** The file as the message names it, starting a sentence: `The input scanReport has the value "..."`. */
  readonly what: string;
  /** The most bytes read. */
  readonly limit: number;
  /** What the file is, for the size message: "a scan report". */
  readonly kind: string;
  readonly code: ErrorCode;
  /** The next step, ending every message: "Give the path of the scanner's report, or leave it empty." */
  readonly fix: string;
}

const CHUNK = 1024 * 1024;

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The error for a file that is not a regular file (a directory, a device, a pipe). */
export function notRegularFile(input: LocalInput, stat: Stats): DigestReleaseError {
  const kind = kindOf(stat);
  const what = kind === 'not a regular file' ? 'it is not a regular file' : `it is ${kind}, not a regular file`;
  return new DigestReleaseError(input.code, `${input.what}: ${what}; only regular files are read. ${input.fix}`);
}

/** The error for a file over the limit of its kind. */
export function fileTooLarge(input: LocalInput, size: number): DigestReleaseError {
  return new DigestReleaseError(
    input.code,
    `${input.what}: the file is ${sizeText(size)}, over the ${sizeText(input.limit)} limit for ${input.kind}; it was not read. ${input.fix}`,
  );
}

/**
 * Opens a regular file no larger than the limit. A named pipe opens without waiting for a writer
 * (O_NONBLOCK, which changes nothing for a regular file), so that it can be refused.
 */
function openRegular(path: string, input: LocalInput): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new DigestReleaseError(
      input.code,
      `${input.what}: the file cannot be read (${messageOf(err)}). ${input.fix}`,
      { cause: err },
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notRegularFile(input, stat);
    if (stat.size > input.limit) throw fileTooLarge(input, stat.size);
    return { fd, size: stat.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Hands every chunk of the file to `take`, at most limit bytes in all. The first read asks for the
 * whole file as fstat sized it (plus a byte, to notice growth); a reused buffer serves a caller
 * that only looks at each chunk once.
 */
function readChunks(path: string, input: LocalInput, take: (chunk: Buffer) => void, reuse: boolean): void {
  const { fd, size } = openRegular(path, input);
  try {
    let total = 0;
    let buffer = Buffer.allocUnsafe(reuse ? CHUNK : size + 1);
    for (;;) {
      let read: number;
      try {
        read = readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        throw new DigestReleaseError(
          input.code,
          `${input.what}: the file cannot be read (${messageOf(err)}). ${input.fix}`,
          { cause: err },
        );
      }
      if (read === 0) return;
      total += read;
      if (total > input.limit) throw fileTooLarge(input, total);
      take(buffer.subarray(0, read));
      if (!reuse) buffer = Buffer.allocUnsafe(CHUNK);
    }
  } finally {
    closeSync(fd);
  }
}

/** The whole file, when it is a regular file within the limit. */
export function readLocalFile(path: string, input: LocalInput): Buffer {
  const chunks: Buffer[] = [];
  readChunks(path, input, (chunk) => chunks.push(chunk), false);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The sha256 (hex) and size of the file, read in chunks: memory stays flat whatever the size. */
export function hashLocalFile(path: string, input: LocalInput): { readonly sha256: string; readonly size: number } {
  const hash = createHash('sha256');
  let size = 0;
  readChunks(
    path,
    input,
    (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    },
    true,
  );
  return { sha256: hash.digest('hex'), size };
}

/** Whether the error says the file does not exist (for files that may be absent, such as the docker config). */
export function isMissingFile(err: unknown): boolean {
  return err instanceof DigestReleaseError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
