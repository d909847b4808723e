import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../support/paths';
import { AgentJob, TaskRun } from '../support/agent';
import { digestOf } from '../unit/pin/helpers';

// DigestPin@1 run from the packaged .vsix as the agent runs it, on a copy of the fixtures.

const WEB = `myacr.azurecr.io/team/web@${digestOf('web')}`;
const RELEASE = [
  WEB,
  `myacr.azurecr.io/team/web-migrate@${digestOf('migrate')}`,
  `myacr.azurecr.io/team/report@${digestOf('report')}`,
  `myacr.azurecr.io/team/fetcher@${digestOf('fetch')}`,
  `myacr.azurecr.io/team/api@${digestOf('api')}`,
].join('\n');
const DEPLOYED = ['rendered-chart.yaml', 'cronjob.yaml', 'compose.yaml', 'values.yaml', 'kustomize/**/*.yaml'].join('\n');

function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(dir);
  return files;
}

describe('task: DigestPin@1', function () {
  this.timeout(60_000);
  // One agent job per test, the fixtures checked out as its repository (Build.SourcesDirectory).
  let job: AgentJob;
  let work: string;

  beforeEach(() => {
    job = new AgentJob();
    work = job.sourcesDirectory;
    cpSync(join(ROOT, 'test', 'fixtures', 'pin'), work, { recursive: true });
  });
  afterEach(() => job.dispose());

  const run = (inputs: Record<string, string>): Promise<TaskRun> => job.run('DigestPin', { inputs });

  it('pins every kind of file and reports the counts; a second run changes nothing', async () => {
    const before = snapshot(work);
    const first = await run({ files: DEPLOYED, images: RELEASE });
    assert.equal(first.result, 'Succeeded', first.message);
    assert.equal(first.outputs.FILES_CHANGED, '5');
    assert.equal(first.outputs.PINNED_COUNT, '10');
    const after = snapshot(work);
    assert.match(after['compose.yaml']!, new RegExp(`image: ${WEB} # shared by web and worker`));
    assert.equal(after['invalid.yaml'], before['invalid.yaml'], 'files outside the patterns are not touched');
    assert.ok(first.warnings.some((w) => /compose\.yaml:16: service db: postgres:16 is not pinned/.test(w)), first.warnings.join('\n'));
    assert.match(first.summaries[0]!, /\| compose\.yaml:5 \| `myacr\.azurecr\.io\/team\/web:1\.4\.2` \| `myacr\.azurecr\.io\/team\/web@sha256:/);

    const mtime = statSync(join(work, 'compose.yaml')).mtimeMs;
    const second = await run({ files: DEPLOYED, images: RELEASE });
    assert.equal(second.result, 'Succeeded', second.message);
    assert.equal(second.outputs.FILES_CHANGED, '0');
    assert.equal(second.outputs.PINNED_COUNT, '10');
    assert.deepEqual(snapshot(work), after);
    assert.equal(statSync(join(work, 'compose.yaml')).mtimeMs, mtime, 'an unchanged file is not rewritten');
  });

  it('check mode fails listing every unpinned, disallowed or template image with file and line, and changes nothing', async () => {
    const before = snapshot(work);
    const result = await run({ files: 'compose.yaml\nchart/**/*.yaml', mode: 'check', allowedRegistries: 'myacr.azurecr.io' });
    assert.equal(result.result, 'Failed');
    assert.match(result.message, /^5 problems with the images in compose\.yaml, chart\/\*\*\/\*\.yaml:\n/);
    assert.match(result.message, /chart\/templates\/deployment\.yaml:4: this is a Helm template/);
    assert.match(result.message, /compose\.yaml:16: service db: postgres:16 comes from docker\.io\/library\/postgres, which allowedRegistries \(myacr\.azurecr\.io\) does not allow/);
    assert.match(result.message, /\[PIN_CHECK_FAILED\]$/);
    const located = result.commands.filter((c) => c.command === 'task.logissue' || (c.command === 'task.issue' && c.properties.sourcepath !== undefined));
    assert.ok(located.some((c) => c.properties.sourcepath === 'compose.yaml' && c.properties.linenumber === '16'), 'issues point at file and line');
    assert.equal(result.outputs.FILES_CHANGED, '0');
    assert.deepEqual(snapshot(work), before);
  });

  it('check mode passes on what pin mode wrote', async () => {
    const images = `${WEB}\npostgres@${digestOf('pg')}`;
    assert.equal((await run({ files: 'compose.yaml', images })).result, 'Succeeded');
    const check = await run({ files: 'compose.yaml', mode: 'check', images, allowedRegistries: 'myacr.azurecr.io\ndocker.io/library' });
    assert.equal(check.result, 'Succeeded', check.message);
    assert.equal(check.outputs.PINNED_COUNT, '3');
    assert.match(check.summaries[0]!, /### Every image is pinned/);
  });

  it('an invalid file fails the batch with file and line and leaves every file untouched', async () => {
    const before = snapshot(work);
    const result = await run({ files: `${DEPLOYED}\ninvalid.yaml`, images: RELEASE });
    assert.equal(result.result, 'Failed');
    assert.match(result.message, /^invalid\.yaml:\d+ is not valid YAML: .*No file was changed\. \[YAML_PARSE\]$/s);
    assert.deepEqual(snapshot(work), before);
  });

  it('a file that is not YAML with {{ }} only in a comment fails the batch as invalid, not as a template, and leaves every file untouched', async () => {
    writeFileSync(join(work, 'commented.yaml'), '# image set by {{ .Values.image }} in the chart\nimage:\n  repository: myacr.azurecr.io/team/web\n  tag: [1.4.2\n');
    const before = snapshot(work);
    const result = await run({ files: `${DEPLOYED}\ncommented.yaml`, images: RELEASE });
    assert.equal(result.result, 'Failed', result.message);
    assert.match(result.message, /^commented\.yaml:\d+ is not valid YAML: .*No file was changed\. \[YAML_PARSE\]$/s);
    assert.deepEqual(snapshot(work), before);
  });

  it('an images line that matches nothing fails (the typo guard) and changes nothing, unless told otherwise', async () => {
    const before = snapshot(work);
    const typo = `myacr.azurecr.io/team/wbe@${digestOf('web')}`;
    const result = await run({ files: 'compose.yaml', images: `${WEB}\n${typo}` });
    assert.equal(result.result, 'Failed');
    assert.match(result.message, new RegExp(`lines that match no image in the files: "${typo}". The files name .*myacr\\.azurecr\\.io/team/web:1\\.4\\.2.*No file was changed\\. \\[IMAGE_NOT_MATCHED\\]$`));
    assert.deepEqual(snapshot(work), before);

    const relaxed = await run({ files: 'compose.yaml', images: `${WEB}\n${typo}`, requireAllImagesMatched: 'false' });
    assert.equal(relaxed.result, 'Succeeded', relaxed.message);
    assert.ok(relaxed.warnings.some((w) => w.includes(typo)));
    assert.equal(relaxed.outputs.FILES_CHANGED, '1');
  });

  it('pin mode fails on a targeted image it cannot write in place (a block scalar), naming file and line, and writes nothing', async () => {
    writeFileSync(join(work, 'folded.yaml'), 'services:\n  web:\n    image: >-\n      myacr.azurecr.io/team/web:1.4.2\n');
    const before = snapshot(work);
    const cannot = /folded\.yaml:3: service web: myacr\.azurecr\.io\/team\/web:1\.4\.2 cannot be pinned in place: it is a block scalar .*Write the image as a plain scalar on one line/;
    const runs: Array<Record<string, string>> = [
      { files: 'folded.yaml', images: WEB },
      { files: 'folded.yaml', images: WEB, requireAllImagesMatched: 'false' },
      { files: 'folded.yaml\ncompose.yaml', images: WEB },
    ];
    for (const inputs of runs) {
      const result = await run(inputs);
      assert.equal(result.result, 'Failed', `${JSON.stringify(inputs)}: ${result.message}`);
      assert.match(result.message, cannot);
      assert.match(result.message, /no file was changed.*\[PIN_CHECK_FAILED\]$/s);
      assert.doesNotMatch(result.message, /match no image/);
      assert.ok(result.commands.some((c) => c.properties.sourcepath === 'folded.yaml' && c.properties.linenumber === '3'), 'the error points at file and line');
      assert.equal(result.outputs.FILES_CHANGED, '0');
      assert.deepEqual(snapshot(work), before);
    }
  });

  it('pin mode refuses images from registries that are not allowed, writing nothing', async () => {
    const before = snapshot(work);
    const result = await run({ files: 'rendered-chart.yaml', images: WEB, allowedRegistries: 'myacr.azurecr.io', requireAllImagesMatched: 'false' });
    assert.equal(result.result, 'Failed');
    assert.match(result.message, /images come from registries allowedRegistries does not allow; no file was changed:\n.*rendered-chart\.yaml:73: .*envoy/s);
    assert.deepEqual(snapshot(work), before);
  });

  const badInputs: Array<[string, Record<string, string>, RegExp]> = [
    ['a mode it does not know', { files: 'compose.yaml', images: WEB, mode: 'fast' }, /The input mode has the value "fast": use one of pin, check\./],
    ['an images line without a digest', { files: 'compose.yaml', images: 'myacr.azurecr.io/team/web:1.4.2' }, /The input images has the line "myacr\.azurecr\.io\/team\/web:1\.4\.2": it has no digest.*\$\(capture\.IMAGE_REF\)/],
    ['no images in pin mode', { files: 'compose.yaml' }, /The input images is required and is empty in mode pin.*mode: check/],
    ['a files pattern that matches nothing', { files: 'deploy/**/*.yaml', images: WEB }, /The input files has the pattern "deploy\/\*\*\/\*\.yaml", which matches no file under .*Fix the path/],
    ['a helmDigestKey that is not a path', { files: 'values.yaml', images: WEB, helmDigestKey: 'image..digest' }, /The input helmDigestKey has the value "image\.\.digest": .*for example image\.digest\./],
    ['a keepTag that is not a boolean', { files: 'compose.yaml', images: WEB, keepTag: 'yes' }, /The input keepTag has the value "yes": use true or false\./],
    ['an allowedRegistries line with a scheme', { files: 'compose.yaml', images: WEB, allowedRegistries: 'https://myacr.azurecr.io' }, /The input allowedRegistries has the line "https:\/\/myacr\.azurecr\.io": write the registry host without a scheme/],
  ];
  for (const [what, inputs, message] of badInputs) {
    it(`fails on ${what}, naming the input, the value and the fix`, async () => {
      const result = await run(inputs);
      assert.equal(result.result, 'Failed');
      assert.match(result.message, message);
    });
  }

  it('keeps its input and output names (renaming one breaks every pipeline that uses it)', () => {
    const task: unknown = JSON.parse(readFileSync(join(ROOT, 'tasks', 'DigestPin', 'task.json'), 'utf8'));
    assert.ok(task !== null && typeof task === 'object' && 'inputs' in task && Array.isArray(task.inputs) && 'outputVariables' in task && Array.isArray(task.outputVariables));
    const names = (list: unknown[]) => list.map((item) => (item !== null && typeof item === 'object' && 'name' in item ? item.name : undefined));
    assert.deepEqual(names(task.inputs), ['files', 'images', 'mode', 'allowedRegistries', 'keepTag', 'helmDigestKey', 'requireAllImagesMatched']);
    assert.deepEqual(names(task.outputVariables), ['PINNED_COUNT', 'FILES_CHANGED']);
  });
});
