import { DigestReleaseError, messageOf } from '../errors';
import type { Digest } from '../reference/digest';
import type { ImageReference } from '../reference/reference';
import { parseReference, repositoryName } from '../reference/reference';
import { nameText } from './written-reference';

// The `images` input: what to pin. Each line is a digest reference (`$(capture.IMAGE_REF)`), or
// `name=ref@sha256:...` to pin images named `name` in the files to another repository.

export interface PinTarget {
  /** The line as the user wrote it, for messages. */
  readonly line: string;
  readonly reference: ImageReference;
  readonly digest: Digest;
  /** Normalised `registry/repository` names this line pins: the reference's, and for `name=` lines also `name`. */
  readonly matches: ReadonlySet<string>;
  /** For `name=` lines: the name text to write in place of the file's (as written in the line). */
  readonly rename?: string;
}

const INPUT = 'images';

function invalid(value: string, fix: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_INPUT', `The input ${INPUT} has the line "${value}": ${fix}`);
}

/** Lines of a multiline input without blank lines and `#` comments. */
export function inputLines(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export function parseTarget(line: string): PinTarget {
  const eq = line.indexOf('=');
  const refText = (eq >= 0 ? line.slice(eq + 1) : line).trim();
  if (refText === '') throw invalid(line, 'nothing follows "=". Write name=registry/repository@sha256:<64 hex>.');
  let reference: ImageReference;
  try {
    reference = parseReference(refText, `reference in the ${INPUT} line`);
  } catch (err) {
    const why = messageOf(err);
    throw invalid(line, `${why} Write registry/repository@sha256:<64 hex>, for example $(capture.IMAGE_REF).`);
  }
  if (reference.digest === undefined) {
    throw invalid(
      line,
      'it has no digest, and pinning to a tag pins nothing. Use the digest reference DigestCapture@1 outputs, for example $(capture.IMAGE_REF) (registry/repository@sha256:<64 hex>).',
    );
  }
  const matches = new Set([repositoryName(reference)]);
  if (eq < 0) return { line, reference, digest: reference.digest, matches };

  const name = line.slice(0, eq).trim();
  if (name === '')
    throw invalid(
      line,
      'the name before "=" is empty. Write the image name used in the files, for example app=myacr.azurecr.io/app@sha256:<64 hex>.',
    );
  let named: ImageReference;
  try {
    named = parseReference(name, `name in the ${INPUT} line`);
  } catch (err) {
    const why = messageOf(err);
    throw invalid(
      line,
      `${why} The part before "=" is the repository name used in the files, for example app or registry.example.com/team/app.`,
    );
  }
  if (named.tag !== undefined || named.digest !== undefined) {
    throw invalid(
      line,
      `the name "${name}" before "=" has a tag or digest. Write only the repository name (${nameText(name)}): every tag of it is pinned.`,
    );
  }
  matches.add(repositoryName(named));
  return { line, reference, digest: reference.digest, matches, rename: nameText(refText) };
}

/** Parses every line; two lines that pin one repository to different digests are an error. */
export function parseTargets(lines: readonly string[]): PinTarget[] {
  const targets: PinTarget[] = [];
  const byName = new Map<string, PinTarget>();
  for (const line of lines) {
    const target = parseTarget(line);
    let duplicate = false;
    for (const name of target.matches) {
      const other = byName.get(name);
      if (other === undefined) continue;
      if (other.digest !== target.digest || other.rename !== target.rename) {
        throw invalid(
          line,
          `it pins ${name}, which the line "${other.line}" already pins to ${other.digest}. Keep one line per image.`,
        );
      }
      duplicate = true;
    }
    if (duplicate) continue;
    for (const name of target.matches) byName.set(name, target);
    targets.push(target);
  }
  return targets;
}

// Each list's lines by the names they pin, built once per list: a lookup per image found, so that
// pinning stays linear in the number of images whatever the number of lines.
const indexes = new WeakMap<readonly PinTarget[], ReadonlyMap<string, PinTarget>>();

function indexOf(targets: readonly PinTarget[]): ReadonlyMap<string, PinTarget> {
  let index = indexes.get(targets);
  if (index === undefined) {
    const byName = new Map<string, PinTarget>();
    for (const target of targets) for (const name of target.matches) if (!byName.has(name)) byName.set(name, target);
    index = byName;
    indexes.set(targets, index);
  }
  return index;
}

/** The line that pins a normalised `registry/repository`, if any (the first, as the lines are listed). */
export function targetFor(targets: readonly PinTarget[], name: string): PinTarget | undefined {
  return indexOf(targets).get(name);
}
