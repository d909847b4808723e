import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lab/paths';
import { check, expand, serviceRepo } from './harness';
import type { ValueMap } from './expander/values';
import { parse } from 'yaml';

// The README's DigestCapture example must be true: it validates against the pipeline schema with our
// tasks, and every output reference in it resolves to a declared output of a step that runs before.

describe('the README pipeline example', function () {
  this.timeout(60_000);

  it('validates and every digest reference resolves', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /### Example: the digest across jobs and stages\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the example');
    const { root, file } = serviceRepo(parse(block) as ValueMap);
    const result = check(expand(file, root));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
  });

  it('would catch a misspelt step name in it', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /### Example: the digest across jobs and stages\n[\s\S]*?```yaml\n([\s\S]*?)```/
      .exec(readme)![1]!
      .replace("['capture.IMAGE_DIGEST']", "['captrue.IMAGE_DIGEST']");
    const { root, file } = serviceRepo(parse(block) as ValueMap);
    assert.notDeepEqual(check(expand(file, root)).referenceProblems, []);
  });
});

describe('docs/templates.md', function () {
  this.timeout(60_000);
  const doc = (): string => readFileSync(join(ROOT, 'docs', 'templates.md'), 'utf8');

  it('lists every template in templates/, and no other', () => {
    const table = /\| template \| kind \| does \|\n\|---\|---\|---\|\n((?:\|.*\n)+)/.exec(doc())?.[1];
    assert.ok(table, 'the docs have the table of templates');
    const listed = [...table.matchAll(/`([a-z-]+\.yml)`/g)].map((m) => m[1]!).sort();
    assert.deepEqual(
      listed,
      readdirSync(join(ROOT, 'templates'))
        .filter((f) => f.endsWith('.yml'))
        .sort(),
    );
  });

  it('its pipeline.yml example validates and every digest reference resolves', () => {
    const block = /## `pipeline.yml`: the platform-owned pipeline\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc())?.[1];
    assert.ok(block, 'the docs have the example');
    const { root, file } = serviceRepo(parse(block) as ValueMap);
    const result = check(expand(file, root));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
  });
});
