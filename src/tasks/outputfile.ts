import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DigestReleaseError, messageOf } from '../errors';
import type { Folder } from '../files/allowed-folders';
import { folderHolding, foldersText, makeFolders, realLocation } from '../files/allowed-folders';
import { writeFilesAtomically } from '../files/write';
import type { TaskContext } from './context';
import { JOB_FOLDERS_FIX, jobFolders } from './jobfolders';

// A file a task writes for later steps (the evidence, a keep list): where its input says (relative
// to System.DefaultWorkingDirectory), else under $(Agent.TempDirectory)/<folder>, which the agent
// empties after the job. The place is checked before the task asks any registry anything, and again
// as it is written: it must lie in the job's folders once `..` and every link are followed; the file
// is written whole (a temporary file renamed over it), never half. The path is what the output
// variable hands on.

export interface OutputFileSpec {
  /** The input that may name the path (outputPath). */
  readonly input: string;
  readonly given: string | undefined;
  /** The folder under Agent.TempDirectory, and the file name, when the input is empty. */
  readonly folder: string;
  readonly name: string;
  /** What the file holds, for the messages: "the evidence". */
  readonly what: string;
  /** The task, for the messages: "DigestEvidence". */
  readonly task: string;
  /** A path to suggest, under $(Build.ArtifactStagingDirectory): "evidence/release.json". */
  readonly example: string;
}

export interface OutputFile extends OutputFileSpec {
  /** The absolute path, as the output variable reports it. */
  readonly path: string;
  readonly folders: readonly Folder[];
}

/** Where the file goes, refused at once when that is outside the job's folders or not a file. */
export function outputFile(context: TaskContext, spec: OutputFileSpec): OutputFile {
  const folders = jobFolders(context);
  const path =
    spec.given === undefined
      ? join(context.variable('Agent.TempDirectory') ?? tmpdir(), spec.folder, spec.name)
      : resolve(context.variable('System.DefaultWorkingDirectory') ?? process.cwd(), spec.given);
  const file: OutputFile = { ...spec, path, folders };
  const real = realLocation(file.path);
  if (folderHolding(folders, real) === undefined) throw outside(file, real);
  if (existsSync(real) && !statSync(real).isFile())
    throw notWritable(
      file,
      `${real} is ${statSync(real).isDirectory() ? 'a folder' : 'not a regular file'}; give the path of a file`,
    );
  return file;
}

/** Writes the file whole: its folders created inside the job's folders, a link at the path followed only when it stays inside them. */
export function writeOutputFile(context: TaskContext, file: OutputFile, bytes: Uint8Array): string {
  let made: ReturnType<typeof makeFolders>;
  try {
    made = makeFolders(dirname(file.path), file.folders);
  } catch (err) {
    throw notWritable(file, messageOf(err));
  }
  if ('outside' in made) throw outside(file, made.outside);
  const real = realLocation(file.path);
  if (folderHolding(file.folders, real) === undefined) throw outside(file, real);
  try {
    writeFilesAtomically([{ path: real, display: file.path, bytes }]);
  } catch (err) {
    throw notWritable(file, messageOf(err instanceof Error && err.cause !== undefined ? err.cause : err));
  }
  context.info(`Wrote ${file.what} to ${file.path}.`);
  return file.path;
}

/** A file name part made of what a name may hold everywhere. */
export function fileNamePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}

function outside(file: OutputFile, real: string): DigestReleaseError {
  const where = `${real}, outside the job's folders (${foldersText(file.folders)}); ${file.task} writes only there`;
  const message =
    file.given === undefined
      ? `The file ${file.path} for ${file.what} leads to ${where}. Set ${file.input} to a file in ${JOB_FOLDERS_FIX}.`
      : `The input ${file.input} has the value "${file.given}", which leads to ${where}. Give a path in ${JOB_FOLDERS_FIX}, for example $(Build.ArtifactStagingDirectory)/${file.example}, or leave it empty.`;
  return new DigestReleaseError('OUTSIDE_JOB_FOLDERS', message);
}

function notWritable(file: OutputFile, why: string): DigestReleaseError {
  const what =
    file.given === undefined
      ? `The file ${file.path}`
      : `The input ${file.input} has the value "${file.given}" (${file.path})`;
  return new DigestReleaseError(
    'FILE_ACCESS',
    `${what}: ${file.what} cannot be written there (${why}). Give a writable file path${file.given === undefined ? ` in ${file.input}` : ''}.`,
  );
}
