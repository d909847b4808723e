import { DigestReleaseError } from '../errors';
import type { LocalInput } from '../files/read';
import { readLocalFile } from '../files/read';

// Reading a file for DigestPin: a regular file of at most YAML_FILE_LIMIT bytes, as strict UTF-8.
// A byte order mark is kept as the text's first character, so that it is written back as it was.

const MIB = 1024 * 1024;

/**
 * The most one file may hold: five times the largest object Kubernetes stores (etcd takes 1.5 MiB
 * a request), far above any values file or kustomization. Parsing holds 30 to 120 times a file's
 * size in memory (measured: 8 MiB of manifests 280 MB, 8 MiB of one-line flow maps 950 MB), so this
 * also bounds what one file can cost.
 */
export const YAML_FILE_LIMIT = 8 * MIB;

/** The most all files of one run may hold together; they are all planned before any is written. */
export const YAML_TOTAL_LIMIT = 64 * MIB;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How messages name a file that the input `files` matched. */
export function matchedFile(display: string): LocalInput {
  return {
    what: `The input files matches ${display}`,
    limit: YAML_FILE_LIMIT,
    kind: 'a file DigestPin reads',
    code: 'FILE_ACCESS',
    fix: `Leave it out of the files input (!${display}).`,
  };
}

export function readText(path: string, display: string): string {
  const bytes = readLocalFile(path, matchedFile(display));
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new DigestReleaseError(
      'FILE_ACCESS',
      `${display} is not UTF-8 text; DigestPin reads YAML, which is UTF-8. Leave it out of the files input.`,
      { cause: err },
    );
  }
}
