import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DigestReleaseError, messageOf } from '../../errors';
import { Folder, folderHolding, foldersText, makeFolders, realLocation } from '../../files/folders';
import { writeFilesAtomically } from '../../files/write';
import { TaskContext } from '../agent';
import { JOB_FOLDERS_FIX, jobFolders } from '../folders';
import { EvidenceInputs } from './inputs';

// Where DigestEvidence writes the evidence file: outputPath (relative to
// System.DefaultWorkingDirectory), else a file named after the digest and environment under
// $(Agent.TempDirectory)/digest-evidence. The place is checked before the task asks any registry
// anything, and again as it is written: it must lie in the job's folders once `..` and every link
// are followed; the file is written whole (a temporary file renamed over it), never half.

export interface EvidenceFile {
  /** The absolute path, as EVIDENCE_PATH reports it. */
  readonly path: string;
  /** outputPath as given, for messages; undefined for the default place. */
  readonly given?: string;
  readonly folders: readonly Folder[];
}

function outside(file: EvidenceFile, real: string): DigestReleaseError {
  const where = `${real}, outside the job's folders (${foldersText(file.folders)}); DigestEvidence writes only there`;
  const message =
    file.given === undefined
      ? `The evidence file ${file.path} leads to ${where}. Set outputPath to a file in ${JOB_FOLDERS_FIX}.`
      : `The input outputPath has the value "${file.given}", which leads to ${where}. Give a path in ${JOB_FOLDERS_FIX}, for example $(Build.ArtifactStagingDirectory)/evidence/release.json, or leave it empty.`;
  return new DigestReleaseError('OUTSIDE_JOB_FOLDERS', message);
}

/** Where the evidence goes, refused at once when that is outside the job's folders. */
export function evidenceFile(context: TaskContext, inputs: EvidenceInputs): EvidenceFile {
  const folders = jobFolders(context);
  const name = `evidence-${inputs.image.digest.slice(7, 19)}${inputs.environment ? `-${inputs.environment.replace(/[^A-Za-z0-9._-]/g, '_')}` : ''}.json`;
  const file: EvidenceFile =
    inputs.outputPath === undefined
      ? { path: join(context.variable('Agent.TempDirectory') ?? tmpdir(), 'digest-evidence', name), folders }
      : { path: resolve(context.variable('System.DefaultWorkingDirectory') ?? process.cwd(), inputs.outputPath), given: inputs.outputPath, folders };
  const real = realLocation(file.path);
  if (folderHolding(folders, real) === undefined) throw outside(file, real);
  if (existsSync(real) && !statSync(real).isFile()) throw notWritable(file, `${real} is ${statSync(real).isDirectory() ? 'a folder' : 'not a regular file'}; give the path of a file`);
  return file;
}

function notWritable(file: EvidenceFile, why: string): DigestReleaseError {
  const what = file.given === undefined ? `The evidence file ${file.path}` : `The input outputPath has the value "${file.given}" (${file.path})`;
  return new DigestReleaseError('FILE_ACCESS', `${what}: the evidence cannot be written there (${why}). Give a writable file path${file.given === undefined ? ' in outputPath' : ''}.`);
}

/** Writes the evidence whole: its folders created inside the job's folders, a link at the path followed only when it stays inside them. */
export function writeEvidenceFile(file: EvidenceFile, bytes: Uint8Array): void {
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
}
