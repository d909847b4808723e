import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { readTaskJson, taskNames } from '../tasks/sources';
import { ROOT, builtVsix } from '../../lab/paths';
import { readZip } from '../../lab/vsix';
import { check, expand, serviceRepo } from '../templates/harness';
import type { ValueMap } from '../templates/expander/values';

// The Marketplace page (overview.md, the manifest's content.details) is what a pipeline author
// reads before installing: its pipeline must be a valid pipeline, its pictures must ship in the
// .vsix, every task must be on it, and what it promises about the code must stay true.

interface Manifest {
  content: { details: { path: string } };
  files: { path: string; addressable?: boolean }[];
  links?: Record<string, { uri: string }>;
  repository?: { type: string; uri: string };
}

const manifest = (): Manifest => JSON.parse(readFileSync(join(ROOT, 'vss-extension.json'), 'utf8')) as Manifest;
const overview = (): string => readFileSync(join(ROOT, 'overview.md'), 'utf8');
const pictures = (markdown: string): string[] => [...markdown.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the Marketplace page (overview.md)', function () {
  this.timeout(60_000);

  it('is the content.details of the manifest and ships in the .vsix as written; README.md stays the repository readme', () => {
    assert.equal(manifest().content.details.path, 'overview.md');
    const shipped = readZip(builtVsix()).find((entry) => entry.name === 'overview.md');
    assert.ok(shipped, 'the .vsix holds overview.md');
    assert.equal(shipped.data.toString('utf8'), overview());
  });

  it('shows a picture of every task summary, each packaged as an addressable file of the .vsix, and ships no picture it does not show', () => {
    const shown = pictures(overview());
    assert.ok(shown.length >= 5, 'the summaries are pictured');
    const names = new Set(readZip(builtVsix()).map((entry) => entry.name));
    const addressable = manifest()
      .files.filter((f) => f.addressable)
      .map((f) => f.path);
    for (const picture of shown) {
      assert.ok(
        !/^[a-z]+:/i.test(picture) && !picture.startsWith('/'),
        `${picture}: pictures are files of the extension, by relative path`,
      );
      assert.ok(existsSync(join(ROOT, picture)), `${picture} is in the repository (npm run summaries makes it)`);
      assert.ok(names.has(picture), `${picture} is in the .vsix`);
      assert.ok(
        addressable.some((dir) => picture.startsWith(`${dir}/`)),
        `${picture} is under an addressable files entry of vss-extension.json`,
      );
    }
    const made = filesUnder(join(ROOT, 'images', 'summaries')).map((path) =>
      relative(ROOT, path).split('\\').join('/'),
    );
    assert.deepEqual(made.sort(), [...shown].sort(), 'every picture in images/summaries/ is shown, and only those');
  });

  it('names every task in src/tasks/ as its YAML name (Task@Major)', () => {
    const page = overview();
    for (const task of taskNames()) {
      const major = readTaskJson<{ version: { Major: number } }>(task).version.Major;
      assert.ok(
        page.includes(`\`${task}@${major}\``),
        `overview.md does not present ${task}@${major}: add it to the tasks table (and its summary picture, see docs/publishing.md)`,
      );
    }
  });

  it('its pipeline validates against the pipeline schema with our tasks, and every output it reads is set before', () => {
    const block = /## A pipeline\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(overview())?.[1];
    assert.ok(block, 'overview.md has the pipeline');
    const { root, file } = serviceRepo(parse(block) as ValueMap);
    const result = check(expand(file, root));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
  });

  it('links to the repository the manifest names, over https', () => {
    const { repository, links } = manifest();
    assert.ok(repository && /^https:\/\/[^/]+\/.+[^/]$/.test(repository.uri), 'vss-extension.json has repository.uri');
    assert.equal(repository.type, 'git');
    assert.deepEqual(Object.keys(links ?? {}).sort(), ['getstarted', 'learn', 'license', 'support']);
    for (const [key, link] of Object.entries(links ?? {}))
      assert.ok(
        link.uri.startsWith(`${repository.uri}/`) || link.uri.startsWith(`${repository.uri}#`),
        `links.${key} points into the repository`,
      );
    for (const [, uri] of overview().matchAll(/\]\((https?:[^)\s]+)\)/g))
      assert.ok(uri!.startsWith(repository.uri), `${uri} in overview.md is not in ${repository.uri}`);
  });

  it('keeps its promise of no shell-outs: no code under src/ uses child_process', () => {
    const code = filesUnder(join(ROOT, 'src')).filter((path) => path.endsWith('.ts'));
    const offenders = code
      .filter((path) => /\bchild_process\b/.test(readFileSync(path, 'utf8')))
      .map((path) => relative(ROOT, path));
    assert.deepEqual(offenders, []);
  });
});
