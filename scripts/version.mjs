// npm run version -- <major|minor|patch|x.y.z>: moves every version of the extension together.
//
//   package.json, package-lock.json   "version": the extension's version (semver x.y.z)
//   vss-extension.json                "version": the same
//   src/tasks/*/task.json             version.Minor = 100 * extension major + extension minor,
//                                     version.Patch = extension patch, version.Major unchanged
//   CHANGELOG.md                      "## Unreleased" becomes "## x.y.z - <date>"
//
// Why: the agent caches a task by its version, so a task whose code changed but whose version did
// not is never downloaded again; every release must raise every task's version, and never lower
// one. A task's Major is the `@1` of its YAML name: it is the task's own and moves only by hand,
// when the task breaks its inputs or outputs (see docs/publishing.md). The extension major goes
// into the task Minor so that an extension major release still raises every task version.
//
// `npm run version -- x.y.z` with the current version writes nothing new: it puts every file back
// in line (a task added with another version, a file edited by hand). Run as npm's own `version`
// hook (`npm version minor`, which has already moved package.json), it moves the rest to match and
// stages them for npm's commit. Edits are made in place, keeping each file's layout, then checked
// by parsing the result. `--root <dir>` works on another copy of the repository (the tests use it).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { taskFolders } from './task-sources.mjs';

const USAGE = 'usage: npm run version -- <major|minor|patch|x.y.z>';
/** The extension minor shares the task Minor with the extension major (100 * major + minor). */
const MINOR_LIMIT = 100;

class VersionError extends Error {}

function parseArgs(argv) {
  let root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = argv[++i] ?? '';
    else rest.push(argv[i]);
  }
  return { root, rest };
}

/** The task version an extension version gives: the task keeps its Major. */
export function taskVersionFor(extension, major) {
  const v = semver.parse(extension);
  return { Major: major, Minor: MINOR_LIMIT * v.major + v.minor, Patch: v.patch };
}

function nextVersion(current, wanted) {
  if (['major', 'minor', 'patch'].includes(wanted)) return semver.inc(current, wanted);
  const v = semver.valid(wanted);
  if (!v) throw new VersionError(`"${wanted}" is neither major, minor, patch nor a version x.y.z. ${USAGE}`);
  if (semver.prerelease(v) || wanted.includes('+')) {
    throw new VersionError(
      `"${wanted}" has a pre-release or build part: the Marketplace and task.json versions take numbers only (x.y.z).`,
    );
  }
  if (semver.lt(v, current)) {
    throw new VersionError(
      `${v} is lower than the current version ${current}: versions only go up (the agent would keep running a cached task of the higher version).`,
    );
  }
  return v;
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new VersionError(`${path} cannot be read as JSON: ${err.message}`);
  }
}

/**
 * Rewrites `path` with `edit` (a text edit that keeps the layout) and checks that the file now
 * parses to exactly what `expect` made of the old content: nothing else may change.
 */
function editJson(path, edit, expect) {
  const text = readFileSync(path, 'utf8');
  const wanted = JSON.parse(text);
  expect(wanted);
  const edited = edit(text);
  let got;
  try {
    got = JSON.parse(edited);
  } catch {
    got = undefined;
  }
  if (!isDeepStrictEqual(got, wanted))
    throw new VersionError(`${path}: the version could not be changed in place; set it by hand and run this again.`);
  if (edited !== text) writeFileSync(path, edited);
  return edited !== text;
}

/** Replaces the first `count` `"version": "..."` string values (top-level ones come first in our files). */
function replaceVersionStrings(version, count) {
  return (text) => {
    let left = count;
    return text.replace(/("version"\s*:\s*")[^"]*(")/g, (match, open, close) =>
      left-- > 0 ? `${open}${version}${close}` : match,
    );
  };
}

/** Replaces Minor and Patch inside the `"version": { ... }` object of a task.json. */
function replaceTaskVersion(minor, patch) {
  return (text) =>
    text.replace(/("version"\s*:\s*\{)([^}]*)(\})/, (_match, open, body, close) => {
      const inner = body
        .replace(/("Minor"\s*:\s*)("?)[^,"\s}]*("?)/, `$1$2${minor}$3`)
        .replace(/("Patch"\s*:\s*)("?)[^,"\s}]*("?)/, `$1$2${patch}$3`);
      return `${open}${inner}${close}`;
    });
}

export function taskFiles(root) {
  return taskFolders(root).map((task) => join(task.dir, 'task.json'));
}

/** Turns the "## Unreleased" section into the section of `version`; refuses an empty one. */
function cutChangelog(path, version, date) {
  const text = readFileSync(path, 'utf8');
  if (new RegExp(`^## ${version.replace(/\./g, '\\.')}( |$)`, 'm').test(text)) return false;
  const start = /^## Unreleased[ \t]*$/m.exec(text);
  if (!start)
    throw new VersionError(
      `${path} has no "## Unreleased" section: add one listing what changed since the last version.`,
    );
  const bodyStart = start.index + start[0].length;
  const next = /^## /m.exec(text.slice(bodyStart));
  const body = text.slice(bodyStart, next ? bodyStart + next.index : text.length);
  if (body.trim() === '') {
    throw new VersionError(
      `The "## Unreleased" section of ${path} is empty: write down what changed (for pipeline authors) before making version ${version}.`,
    );
  }
  writeFileSync(
    path,
    `${text.slice(0, bodyStart)}\n\n## ${version} - ${date}\n${body.replace(/^\n*/, '\n')}${text.slice(bodyStart + body.length)}`,
  );
  return true;
}

export function setVersion(root, version, { changelog = true, date = new Date().toISOString().slice(0, 10) } = {}) {
  if (semver.parse(version).minor >= MINOR_LIMIT) {
    throw new VersionError(
      `A minor version of ${MINOR_LIMIT} or more does not fit the task Minor (${MINOR_LIMIT} * major + minor): make a major version instead.`,
    );
  }
  const changed = [];
  const track = (path, didChange) => didChange && changed.push(relative(root, path));
  if (changelog) track(join(root, 'CHANGELOG.md'), cutChangelog(join(root, 'CHANGELOG.md'), version, date));
  const pkg = join(root, 'package.json');
  track(
    pkg,
    editJson(pkg, replaceVersionStrings(version, 1), (json) => (json.version = version)),
  );
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock)) {
    track(
      lock,
      editJson(lock, replaceVersionStrings(version, 2), (json) => {
        json.version = version;
        if (json.packages?.['']) json.packages[''].version = version;
      }),
    );
  }
  const manifest = join(root, 'vss-extension.json');
  track(
    manifest,
    editJson(manifest, replaceVersionStrings(version, 1), (json) => (json.version = version)),
  );
  for (const task of taskFiles(root)) {
    const major = readJson(task).version?.Major;
    if (!Number.isInteger(Number(major)))
      throw new VersionError(`${task} has no version.Major; give the task its major version (1 for a new task).`);
    const { Minor, Patch } = taskVersionFor(version, Number(major));
    track(
      task,
      editJson(task, replaceTaskVersion(Minor, Patch), (json) => {
        json.version.Minor = typeof json.version.Minor === 'string' ? String(Minor) : Minor;
        json.version.Patch = typeof json.version.Patch === 'string' ? String(Patch) : Patch;
      }),
    );
  }
  return changed;
}

function main() {
  const { root, rest } = parseArgs(process.argv.slice(2));
  const current = readJson(join(root, 'package.json')).version;
  if (!semver.valid(current)) throw new VersionError(`package.json has the version "${current}", which is not x.y.z.`);
  // As npm's `version` hook, npm has already written package.json: bring the rest to it.
  const asHook = process.env.npm_lifecycle_event === 'version' && process.env.npm_command === 'version';
  if (!asHook && rest.length !== 1) throw new VersionError(USAGE);
  const version = asHook ? current : nextVersion(current, rest[0]);
  const changed = setVersion(root, version, { changelog: asHook || version !== current });
  if (asHook && changed.length > 0 && process.env.npm_config_git_tag_version !== '' && existsSync(join(root, '.git'))) {
    execFileSync('git', ['add', '--', ...changed], { cwd: root, stdio: 'inherit' });
  }
  const task = taskVersionFor(version, 1);
  console.log(
    version === current && !asHook
      ? `Every version is ${version} (tasks <Major>.${task.Minor}.${task.Patch}); ${changed.length ? `put back in line: ${changed.join(', ')}` : 'nothing to change'}.`
      : `Version ${asHook ? '' : `${current} -> `}${version}: ${changed.join(', ')}. Tasks are now <Major>.${task.Minor}.${task.Patch}. Review CHANGELOG.md, then commit.`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    if (!(err instanceof VersionError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}
