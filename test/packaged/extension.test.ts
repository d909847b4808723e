import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import Ajv from 'ajv-draft-04';
import { readTaskJson, taskJsonPath, taskNames } from '../tasks/sources';
import { ROOT, builtVsix } from '../../lab/paths';
import { readZip } from '../../lab/vsix';
import { nodeBinary } from '../../lab/agent';
import { extensionRoot } from '../../lab/taskrun';

// What ships: every task.json is valid (tfx only warns), input and output names never change by
// accident, and the .vsix holds bundled tasks and nothing else.

const TASKS = taskNames();

interface TaskJson {
  id: string;
  name: string;
  friendlyName: string;
  version: { Major: number; Minor: number; Patch: number };
  inputs?: { name: string; type: string; visibleRule?: string; options?: Record<string, string> }[];
  outputVariables?: { name: string }[];
  execution: Record<string, { target: string }>;
}

function readTask(name: string): TaskJson {
  return readTaskJson<TaskJson>(name);
}

describe('task.json files', () => {
  // The schema's patterns escape characters that need no escape (\:), which unicode mode refuses.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  const validate = ajv.compile(
    JSON.parse(readFileSync(join(ROOT, 'test', 'schemas', 'tasks.schema.json'), 'utf8')) as object,
  );

  it('there is at least the DigestCapture task', () => {
    assert.ok(TASKS.includes('DigestCapture'));
  });

  for (const task of TASKS) {
    it(`${task}/task.json validates against tasks.schema.json`, () => {
      const ok = validate(readTask(task));
      assert.ok(ok, ajv.errorsText(validate.errors, { separator: '\n' }));
    });

    it(`${task}/task.json is named after its folder, runs on Node20_1 and Node24, and its visible rules name real inputs`, () => {
      const json = readTask(task);
      assert.equal(json.name, task);
      // tfx's own rule, which the schema does not carry.
      assert.ok(
        json.friendlyName.length <= 40,
        `${task}: friendlyName "${json.friendlyName}" has more than 40 characters`,
      );
      assert.deepEqual(Object.keys(json.execution).sort(), ['Node20_1', 'Node24']);
      for (const handler of Object.values(json.execution)) assert.equal(handler.target, 'index.js');
      const names = new Set((json.inputs ?? []).map((input) => input.name));
      for (const input of json.inputs ?? []) {
        for (const [, ref] of (input.visibleRule ?? '').matchAll(/([A-Za-z][A-Za-z0-9]*)\s*(?:=|!=|==)/g)) {
          assert.ok(names.has(ref!), `${task}: the visibleRule of ${input.name} names ${ref}, which is not an input`);
        }
      }
    });
  }

  it('task ids are unique', () => {
    const ids = TASKS.map((task) => readTask(task).id.toLowerCase());
    assert.equal(new Set(ids).size, ids.length);
  });

  it('input and output names match test/task-names.json: renaming one breaks every pipeline that uses it', () => {
    const recorded = JSON.parse(readFileSync(join(ROOT, 'test', 'task-names.json'), 'utf8')) as Record<
      string,
      { inputs: string[]; outputs: string[] }
    >;
    for (const task of TASKS) {
      const json = readTask(task);
      const current = {
        inputs: (json.inputs ?? []).map((i) => i.name).sort(),
        outputs: (json.outputVariables ?? []).map((o) => o.name).sort(),
      };
      const known = recorded[`${task}@${json.version.Major}`];
      assert.ok(
        known,
        `${task}@${json.version.Major} is not in test/task-names.json: add its input and output names there`,
      );
      for (const name of known.inputs)
        assert.ok(
          current.inputs.includes(name),
          `${task}: the input ${name} was removed or renamed; keep it (an alias is not enough for YAML users) or make a new major version`,
        );
      for (const name of known.outputs)
        assert.ok(current.outputs.includes(name), `${task}: the output variable ${name} was removed or renamed`);
      assert.deepEqual(
        current,
        { inputs: [...known.inputs].sort(), outputs: [...known.outputs].sort() },
        `${task}: new names must be added to test/task-names.json on purpose`,
      );
    }
  });
});

/** Every file under `dir` whose name ends with one of `suffixes`. */
function filesUnder(dir: string, suffixes: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, suffixes));
    else if (suffixes.some((suffix) => entry.name.endsWith(suffix))) out.push(path);
  }
  return out;
}

describe('what the agent does to task inputs and output variables', () => {
  it('every filePath input is read with filePathInput: the agent hands an empty one over as the repository folder', () => {
    const sources = filesUnder(join(ROOT, 'src'), ['.ts']).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
    for (const task of TASKS) {
      for (const input of readTask(task).inputs ?? []) {
        if (input.type !== 'filePath') continue;
        const readers = sources.filter(
          (file) => file.text.includes(`Input('${input.name}'`) || file.text.includes(`input('${input.name}'`),
        );
        assert.ok(readers.length > 0, `${task}: nothing in src reads the filePath input ${input.name}`);
        for (const file of readers) {
          assert.ok(
            !new RegExp(`\\b(input|requiredInput)\\('${input.name}'`).test(file.text),
            `${file.path} reads the filePath input ${input.name} with input(); use filePathInput()`,
          );
        }
      }
    }
  });

  it('help, docs and examples name output variables with their step ($(capture.IMAGE_REF)): the agent defines no other name', () => {
    const outputs = new Set(TASKS.flatMap((task) => (readTask(task).outputVariables ?? []).map((o) => o.name)));
    const files = [
      ...TASKS.map((task) => taskJsonPath(task)),
      ...filesUnder(join(ROOT, 'docs'), ['.md']),
      ...filesUnder(join(ROOT, 'src'), ['.ts']),
      ...filesUnder(join(ROOT, 'templates'), ['.yml']),
      ...filesUnder(join(ROOT, 'examples'), ['.yml']),
      // CHANGELOG.md is left out: it quotes the wrong form when it records the fix.
      ...readdirSync(ROOT)
        .filter((name) => name.endsWith('.md') && name !== 'CHANGELOG.md')
        .map((name) => join(ROOT, name)),
    ];
    const bare: string[] = [];
    for (const file of files) {
      for (const [macro, name] of readFileSync(file, 'utf8').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (outputs.has(name!)) bare.push(`${file.slice(ROOT.length + 1)}: ${macro}`);
      }
    }
    assert.deepEqual(bare, []);
  });
});

describe('the packaged extension', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'vss-extension.json'), 'utf8')) as {
    files: { path: string }[];
    contributions: { type: string; properties: { name: string } }[];
  };

  it('declares every task as a file and a contribution', () => {
    for (const task of TASKS) {
      assert.ok(
        manifest.files.some((f) => f.path === `tasks/${task}`),
        `vss-extension.json files lacks tasks/${task}`,
      );
      assert.ok(
        manifest.contributions.some(
          (c) => c.type === 'ms.vss-distributed-task.task' && c.properties.name === `tasks/${task}`,
        ),
        `no contribution for tasks/${task}`,
      );
    }
  });

  it('is one .vsix under 2 MB holding each task as one bundle with its start-up code caches, with no node_modules', () => {
    const vsix = builtVsix();
    const size = statSync(vsix).size;
    assert.ok(size < 2 * 1024 * 1024, `the .vsix is ${size} bytes`);
    const zip = readZip(vsix);
    const names = zip.map((entry) => entry.name);
    assert.ok(!names.some((name) => name.includes('node_modules')), 'no node_modules inside');
    for (const task of TASKS) {
      for (const file of ['index.js', 'task.js', 'task.node20.cache', 'task.node24.cache', 'task.json', 'icon.png'])
        assert.ok(names.includes(`tasks/${task}/${file}`), `tasks/${task}/${file}`);
      // The task library's messages go with the one task whose bundle holds the library.
      assert.equal(names.includes(`tasks/${task}/lib.json`), task === 'DigestPin', `tasks/${task}/lib.json`);
      const files = names
        .filter((name) => name.startsWith(`tasks/${task}/`))
        .map((name) => name.slice(`tasks/${task}/`.length));
      // index.js starts task.js, the bundle, with the code cache for its Node (src/tasks/cached-start.js).
      assert.deepEqual(
        files.filter((f) => f.endsWith('.js')).sort(),
        ['index.js', 'task.js'],
        `${task} ships one bundle and its entry`,
      );
      const entry = zip.find((e) => e.name === `tasks/${task}/index.js`)!;
      assert.ok(
        entry.data.equals(readFileSync(join(ROOT, 'src', 'tasks', 'cached-start.js'))),
        `tasks/${task}/index.js is src/tasks/cached-start.js`,
      );
    }
  });

  it('calls no global fetch: Node 16, which the agent falls back to on old hosts, lacks it, and it would bypass the agent proxy', () => {
    for (const entry of readZip(builtVsix()).filter((e) => e.name.endsWith('/task.js'))) {
      const code = entry.data.toString('utf8');
      // @azure/identity rides along compressed (scripts/build.mjs): its source is read too.
      const embedded = [...code.matchAll(/"([A-Za-z0-9+/]{20000,}={0,2})"/g)].map((m) =>
        brotliDecompressSync(Buffer.from(m[1]!, 'base64')).toString('utf8'),
      );
      if (!entry.name.includes('DigestPin')) {
        assert.ok(
          embedded.some((source) => source.includes('ClientSecretCredential')),
          `${entry.name} embeds @azure/identity`,
        );
      }
      for (const source of [code, ...embedded]) {
        const calls = source.match(/(^|[^.\w$])fetch\(/g) ?? [];
        assert.deepEqual(calls, [], `${entry.name} calls fetch`);
      }
    }
  });

  it('holds the task library only in DigestPin, the one task that matches files with it', () => {
    for (const entry of readZip(builtVsix()).filter((e) => e.name.endsWith('/task.js'))) {
      const holds = entry.data.toString('utf8').includes('LIB_MultilineSecret');
      assert.equal(holds, entry.name.includes('DigestPin'), `${entry.name} ${holds ? 'holds' : 'lacks'} task-lib`);
    }
  });

  it('ships each task.json as written in the repository', () => {
    const entries = readZip(builtVsix());
    for (const task of TASKS) {
      const shipped = entries.find((entry) => entry.name === `tasks/${task}/task.json`)!;
      assert.deepEqual(JSON.parse(shipped.data.toString('utf8')), readTask(task));
    }
  });

  it("starts each task with its code cache on the agent's Node 20 and 24, and from source when the cache does not fit", function () {
    this.timeout(60_000);
    const scratch = mkdtempSync(join(tmpdir(), 'digest-release-cache-'));
    try {
      /** A task with no inputs, from `dir`, on the agent's Node `major`: what its entry said of the cache. */
      const start = (dir: string, major: 20 | 24) => {
        const run = spawnSync(nodeBinary(major), [join(dir, 'index.js')], {
          env: { PATH: process.env.PATH, SYSTEM_DEBUG: 'true' },
          encoding: 'utf8',
        });
        // The bundle ran either way: it read its inputs and failed on a missing one.
        assert.match(
          run.stdout,
          /##vso\[task\.complete result=Failed;\].*required/,
          `${dir}: ${run.stdout}${run.stderr}`,
        );
        return /start-up code cache: ([^(]+) \(Node v(\d+)/.exec(run.stdout)?.slice(1, 3);
      };
      for (const task of TASKS) {
        const dir = join(extensionRoot(), 'tasks', task);
        assert.deepEqual(start(dir, 20), ['used', '20'], task);
        assert.deepEqual(start(dir, 24), ['used', '24'], task);
      }
      const shipped = join(extensionRoot(), 'tasks', 'DigestCapture');

      // Each Node handed the other's cache (another V8), and no cache at all.
      const swapped = join(scratch, 'swapped');
      cpSync(shipped, swapped, { recursive: true });
      copyFileSync(join(shipped, 'task.node24.cache'), join(swapped, 'task.node20.cache'));
      copyFileSync(join(shipped, 'task.node20.cache'), join(swapped, 'task.node24.cache'));
      assert.deepEqual(start(swapped, 20), ['refused by V8', '20']);
      assert.deepEqual(start(swapped, 24), ['refused by V8', '24']);
      rmSync(join(swapped, 'task.node20.cache'));
      assert.deepEqual(start(swapped, 20), ['none for this Node', '20']);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
