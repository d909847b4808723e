import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { taskJsonPath, taskNames, taskSourceDir } from './tasks/sources';
import { ROOT } from '../lab/paths';

// One version for the whole extension. The agent caches a task by its version, so a release that
// leaves a task's version as it was never reaches the agents that ran it before: package.json,
// vss-extension.json and every src/tasks/*/task.json move together (scripts/version.mjs), and this
// file fails when they do not agree. Task Minor = 100 * extension major + extension minor, task
// Patch = extension patch; the task Major (its YAML @1) is the task's own.

interface TaskVersion {
  Major: number | string;
  Minor: number | string;
  Patch: number | string;
}

const readJson = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** Every task.json under src/tasks/, found on disk: a task added later is held to the same rule. */
function taskJsonFiles(root: string): string[] {
  return taskNames(root).map((task) => relative(root, taskJsonPath(task, root)).split(sep).join('/'));
}

function parts(version: string): [number, number, number] {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  assert.ok(match, `"${version}" is not a version x.y.z`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** What is wrong with the versions under `root`, one line per file; empty when they agree. */
function disagreements(root: string): string[] {
  const version = String(readJson(join(root, 'package.json')).version);
  const [major, minor, patch] = parts(version);
  const fix = `run "npm run version -- ${version}" to put every file in line`;
  const problems: string[] = [];
  const manifest = String(readJson(join(root, 'vss-extension.json')).version);
  if (manifest !== version)
    problems.push(`vss-extension.json has version ${manifest}, package.json ${version}: ${fix}`);
  const lock = readJson(join(root, 'package-lock.json')) as {
    version?: string;
    packages?: Record<string, { version?: string }>;
  };
  if (lock.version !== version || lock.packages?.['']?.version !== version)
    problems.push(`package-lock.json does not say ${version}: ${fix}`);
  for (const file of taskJsonFiles(root)) {
    const v = (readJson(join(root, file)).version ?? {}) as TaskVersion;
    const [taskMajor, taskMinor, taskPatch] = [Number(v.Major), Number(v.Minor), Number(v.Patch)];
    if (!Number.isInteger(taskMajor) || taskMajor < 0)
      problems.push(`${file} has no whole version.Major (the @1 of its YAML name)`);
    if (taskMinor !== 100 * major + minor || taskPatch !== patch) {
      problems.push(
        `${file} has version ${v.Major}.${v.Minor}.${v.Patch}, but extension ${version} makes it ${v.Major}.${100 * major + minor}.${patch}: ${fix}`,
      );
    }
  }
  return problems;
}

describe('one version for the extension and every task', () => {
  it('package.json, package-lock.json, vss-extension.json and every src/tasks/*/task.json agree', () => {
    assert.ok(taskJsonFiles(ROOT).length >= 5, 'the tasks are found on disk');
    assert.deepEqual(disagreements(ROOT), []);
  });

  it("CHANGELOG.md has the current version's section and an Unreleased section for what comes next", () => {
    const version = String(readJson(join(ROOT, 'package.json')).version);
    const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
    assert.match(
      changelog,
      new RegExp(`^## ${version.replace(/\./g, '\\.')}( - \\d{4}-\\d{2}-\\d{2})?$`, 'm'),
      `CHANGELOG.md has no "## ${version}" section`,
    );
    assert.match(changelog, /^## Unreleased$/m);
  });

  it('the check above notices a task.json left behind, one added with its own version, and a manifest that differs', () => {
    const dir = copyRepository();
    try {
      assert.deepEqual(disagreements(dir), []);
      const task = taskJsonPath('DigestPin', dir);
      writeFileSync(task, readFileSync(task, 'utf8').replace(/"Patch": \d+/, '"Patch": 7'));
      mkdirSync(taskSourceDir('DigestNew', dir));
      writeFileSync(
        taskJsonPath('DigestNew', dir),
        JSON.stringify({ name: 'DigestNew', version: { Major: 1, Minor: 0, Patch: 0 } }),
      );
      const manifest = join(dir, 'vss-extension.json');
      writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/"version": "[^"]*"/, '"version": "9.9.9"'));
      const found = disagreements(dir);
      assert.equal(found.length, 3, found.join('\n'));
      assert.match(found.join('\n'), /vss-extension\.json has version 9\.9\.9/);
      assert.match(found.join('\n'), /src\/tasks\/DigestNew\/task\.json has version 1\.0\.0/);
      assert.match(found.join('\n'), /src\/tasks\/DigestPin\/task\.json has version 1\.\d+\.7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The files the version script edits, and the script itself, in a scratch folder that npm can run in. */
function copyRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'digest-release-version-'));
  for (const file of [
    'package.json',
    'package-lock.json',
    'vss-extension.json',
    'CHANGELOG.md',
    'scripts/version.mjs',
    'scripts/task-sources.mjs',
    ...taskJsonFiles(ROOT),
  ]) {
    cpSync(join(ROOT, file), join(dir, file), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function npm(dir: string, args: string[]): { status: number | null; output: string } {
  // Under npm test, npm_execpath is the npm that runs us; otherwise the npm on PATH.
  const execPath = process.env.npm_execpath;
  const [command, prefix] = execPath?.endsWith('.js') ? [process.execPath, [execPath]] : ['npm', []];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('npm_')) delete env[name];
  const result = spawnSync(command, [...prefix, ...args], { cwd: dir, env, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const addUnreleased = (dir: string, line: string): void => {
  const path = join(dir, 'CHANGELOG.md');
  writeFileSync(path, readFileSync(path, 'utf8').replace(/^## Unreleased\n/m, `## Unreleased\n\n- ${line}\n`));
};

// The copy starts from a changelog with nothing unreleased, whatever the repository's own holds now.
const emptyUnreleased = (dir: string): void => {
  const path = join(dir, 'CHANGELOG.md');
  writeFileSync(path, readFileSync(path, 'utf8').replace(/^## Unreleased\n[\s\S]*?(?=^## )/m, '## Unreleased\n\n'));
};

describe('npm run version -- <major|minor|patch|x.y.z>', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = copyRepository();
    emptyUnreleased(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const version = (): string => String(readJson(join(dir, 'package.json')).version);
  const task = (name: string): TaskVersion => readJson(taskJsonPath(name, dir)).version as TaskVersion;

  it('minor moves every file together, keeps each layout, and turns Unreleased into the new section', () => {
    const before = version();
    const [major, minor] = parts(before);
    addUnreleased(dir, 'DigestPin@1 pins Helm charts too.');
    const beforePin = readFileSync(taskJsonPath('DigestPin', dir), 'utf8');
    const run = npm(dir, ['run', 'version', '--', 'minor']);
    assert.equal(run.status, 0, run.output);
    const next = `${major}.${minor + 1}.0`;
    assert.equal(version(), next);
    assert.deepEqual(disagreements(dir), []);
    assert.deepEqual(task('DigestPin'), { Major: 1, Minor: 100 * major + minor + 1, Patch: 0 });
    // Only the version lines changed: the file is not reformatted.
    const changedLines = readFileSync(taskJsonPath('DigestPin', dir), 'utf8')
      .split('\n')
      .filter((line, i) => line !== beforePin.split('\n')[i]);
    assert.deepEqual(
      changedLines.map((line) => line.trim()),
      [`"Minor": ${100 * major + minor + 1},`],
    );
    const changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
    assert.match(
      changelog,
      new RegExp(
        `## Unreleased\\n\\n## ${next.replace(/\./g, '\\.')} - \\d{4}-\\d{2}-\\d{2}\\n\\n- DigestPin@1 pins Helm charts too\\.\\n`,
      ),
    );
    assert.match(changelog, new RegExp(`^## ${before.replace(/\./g, '\\.')} - `, 'm'), 'the earlier section stays');
  });

  it("major raises the extension major and every task's Minor, never a task's Major (its YAML @1)", () => {
    const [major] = parts(version());
    addUnreleased(dir, 'DigestRetain@1.');
    const run = npm(dir, ['run', 'version', '--', 'major']);
    assert.equal(run.status, 0, run.output);
    assert.equal(version(), `${major + 1}.0.0`);
    for (const file of taskJsonFiles(dir)) {
      const [now, was] = [
        readJson(join(dir, file)).version as TaskVersion,
        readJson(join(ROOT, file)).version as TaskVersion,
      ];
      assert.equal(now.Major, was.Major, `${file}: the Major stays`);
      assert.ok(Number(now.Minor) > Number(was.Minor), `${file}: the task version still goes up`);
    }
    assert.deepEqual(disagreements(dir), []);
  });

  it('patch, then x.y.z; the same x.y.z puts a drifted task back in line without a new section', () => {
    const [major, minor, patch] = parts(version());
    addUnreleased(dir, 'A fix.');
    assert.equal(npm(dir, ['run', 'version', '--', 'patch']).status, 0);
    assert.equal(version(), `${major}.${minor}.${patch + 1}`);
    addUnreleased(dir, 'Another fix.');
    assert.equal(npm(dir, ['run', 'version', '--', `${major}.${minor + 3}.0`]).status, 0);
    assert.equal(version(), `${major}.${minor + 3}.0`);
    const changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
    mkdirSync(taskSourceDir('DigestNew', dir));
    writeFileSync(
      taskJsonPath('DigestNew', dir),
      '{\n  "name": "DigestNew",\n  "version": { "Major": 1, "Minor": 0, "Patch": 0 }\n}\n',
    );
    const sync = npm(dir, ['run', 'version', '--', version()]);
    assert.equal(sync.status, 0, sync.output);
    assert.match(sync.output, /put back in line: src\/tasks\/DigestNew\/task\.json/);
    assert.deepEqual(task('DigestNew'), { Major: 1, Minor: 100 * major + minor + 3, Patch: 0 });
    assert.equal(readFileSync(join(dir, 'CHANGELOG.md'), 'utf8'), changelog);
    assert.deepEqual(disagreements(dir), []);
  });

  it('refuses, changing nothing: an empty Unreleased section, a lower or pre-release version, a minor of 100, no argument', () => {
    const snapshot = (): string =>
      ['package.json', 'vss-extension.json', ...taskJsonFiles(dir)]
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .join('\0');
    const before = snapshot();
    const refused = (args: string[], message: RegExp): void => {
      const run = npm(dir, ['run', 'version', '--', ...args]);
      assert.notEqual(run.status, 0, `${args.join(' ')} must fail`);
      assert.match(run.output, message);
    };
    refused(['minor'], /"## Unreleased" section of .*CHANGELOG\.md is empty/);
    addUnreleased(dir, 'Something.');
    const changelog = readFileSync(join(dir, 'CHANGELOG.md'), 'utf8');
    refused(['0.0.1'], /lower than the current version/);
    refused(['9.0.0-rc.1'], /pre-release or build part/);
    refused(['9.100.0'], /does not fit the task Minor/);
    refused(['sideways'], /neither major, minor, patch nor a version/);
    refused([], /usage: npm run version -- <major\|minor\|patch\|x\.y\.z>/);
    assert.equal(snapshot(), before);
    assert.equal(readFileSync(join(dir, 'CHANGELOG.md'), 'utf8'), changelog);
  });

  it("npm's own `npm version minor` works too: its version hook brings the other files to package.json", () => {
    const [major, minor] = parts(version());
    addUnreleased(dir, 'Something.');
    const run = npm(dir, ['version', 'minor', '--no-git-tag-version']);
    assert.equal(run.status, 0, run.output);
    assert.equal(version(), `${major}.${minor + 1}.0`);
    assert.deepEqual(disagreements(dir), []);
    assert.match(
      readFileSync(join(dir, 'CHANGELOG.md'), 'utf8'),
      new RegExp(`^## ${major}\\.${minor + 1}\\.0 - `, 'm'),
    );
  });
});
