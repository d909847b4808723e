import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DigestReleaseError, messageOf } from '../errors';
import { TaskContext } from './agent';

// A file a task writes for later steps (evidence, a keep list): where the input says, else under the
// agent's temporary folder, which the agent empties after the job. The path is what the output
// variable hands on.

export interface OutputFile {
  /** The input that may name the path (outputPath). */
  readonly input: string;
  readonly given: string | undefined;
  /** The folder under Agent.TempDirectory, and the file name, when the input is empty. */
  readonly folder: string;
  readonly name: string;
  readonly bytes: Uint8Array;
  /** What the file holds, for the messages: "the evidence". */
  readonly what: string;
}

export function writeOutputFile(context: TaskContext, file: OutputFile): string {
  const base = context.variable('Agent.TempDirectory') ?? tmpdir();
  const path = resolve(file.given ?? join(base, file.folder, file.name));
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.bytes);
  } catch (err) {
    throw new DigestReleaseError('FILE_ACCESS', `The input ${file.input} has the value "${path}": ${file.what} cannot be written there (${messageOf(err)}). Give a writable file path.`);
  }
  context.info(`Wrote ${file.what} to ${path}.`);
  return path;
}

/** A file name part made of what a name may hold everywhere. */
export function fileNamePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}
