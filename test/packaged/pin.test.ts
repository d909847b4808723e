import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { readTaskJson } from '../tasks/sources';
import { digestOf } from '../pin/helpers';
import { ROOT } from '../../lab/paths';
import type { TaskRun } from '../../lab/agent';
import { AgentJob } from '../../lab/agent';

// DigestPin@1 run from the packaged .vsix as the agent runs it, on a copy of the fixtures.

const WEB = `myacr.azurecr.io/team/web@${digestOf('web')}`;
const RELEASE = [
  WEB,
  `myacr.azurecr.io/team/web-migrate@${digestOf('migrate')}`,
  `myacr.azurecr.io/team/report@${digestOf('report')}`,
  `myacr.azurecr.io/team/fetcher@${digestOf('fetch')}`,
  `myacr.azurecr.io/team/api@${digestOf('api')}`,
].join('\n');
const DEPLOYED = ['rendered-chart.yaml', 'cronjob.yaml', 'compose.yaml', 'values.yaml', 'kustomize/**/*.yaml'].join(
  '\n',
);

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
    assert.ok(
      first.warnings.some((w) => /compose\.yaml:16: service db: postgres:16 is not pinned/.test(w)),
      first.warnings.join('\n'),
    );
    assert.match(
      first.summaries[0]!,
      /\| compose\.yaml:5 \| `myacr\.azurecr\.io\/team\/web:1\.4\.2` \| `myacr\.azurecr\.io\/team\/web@sha256:/,
    );

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
    const result = await run({
      files: 'compose.yaml\nchart/**/*.yaml',
      mode: 'check',
      allowedRegistries: 'myacr.azurecr.io',
    });
    assert.equal(result.result, 'Failed');
    assert.match(result.message, /^5 problems with the images in compose\.yaml, chart\/\*\*\/\*\.yaml:\n/);
    assert.match(result.message, /chart\/templates\/deployment\.yaml:4: this is a Helm template/);
    assert.match(
      result.message,
      /compose\.yaml:16: service db: postgres:16 comes from docker\.io\/library\/postgres, which allowedRegistries \(myacr\.azurecr\.io\) does not allow/,
    );
    assert.match(result.message, /\[PIN_CHECK_FAILED\]$/);
    const located = result.commands.filter(
      (c) => c.command === 'task.logissue' || (c.command === 'task.issue' && c.properties.sourcepath !== undefined),
    );
    assert.ok(
      located.some((c) => c.properties.sourcepath === 'compose.yaml' && c.properties.linenumber === '16'),
      'issues point at file and line',
    );
    assert.equal(result.outputs.FILES_CHANGED, '0');
    assert.deepEqual(snapshot(work), before);
  });

  it('check mode passes on what pin mode wrote', async () => {
    const images = `${WEB}\npostgres@${digestOf('pg')}`;
    assert.equal((await run({ files: 'compose.yaml', images })).result, 'Succeeded');
    const check = await run({
      files: 'compose.yaml',
      mode: 'check',
      images,
      allowedRegistries: 'myacr.azurecr.io\ndocker.io/library',
    });
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
    writeFileSync(
      join(work, 'commented.yaml'),
      '# image set by {{ .Values.image }} in the chart\nimage:\n  repository: myacr.azurecr.io/team/web\n  tag: [1.4.2\n',
    );
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
    assert.match(
      result.message,
      new RegExp(
        `lines that match no image in the files: "${typo}". The files name .*myacr\\.azurecr\\.io/team/web:1\\.4\\.2.*No file was changed\\. \\[IMAGE_NOT_MATCHED\\]$`,
      ),
    );
    assert.deepEqual(snapshot(work), before);

    const relaxed = await run({ files: 'compose.yaml', images: `${WEB}\n${typo}`, requireAllImagesMatched: 'false' });
    assert.equal(relaxed.result, 'Succeeded', relaxed.message);
    assert.ok(relaxed.warnings.some((w) => w.includes(typo)));
    assert.equal(relaxed.outputs.FILES_CHANGED, '1');
  });

  it('pin mode fails on a targeted image it cannot write in place (a block scalar), naming file and line, and writes nothing', async () => {
    writeFileSync(
      join(work, 'folded.yaml'),
      'services:\n  web:\n    image: >-\n      myacr.azurecr.io/team/web:1.4.2\n',
    );
    const before = snapshot(work);
    const cannot =
      /folded\.yaml:3: service web: myacr\.azurecr\.io\/team\/web:1\.4\.2 cannot be pinned in place: it is a block scalar .*Write the image as a plain scalar on one line/;
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
      assert.ok(
        result.commands.some((c) => c.properties.sourcepath === 'folded.yaml' && c.properties.linenumber === '3'),
        'the error points at file and line',
      );
      assert.equal(result.outputs.FILES_CHANGED, '0');
      assert.deepEqual(snapshot(work), before);
    }
  });

  it('pin mode refuses images from registries that are not allowed, writing nothing', async () => {
    const before = snapshot(work);
    const result = await run({
      files: 'rendered-chart.yaml',
      images: WEB,
      allowedRegistries: 'myacr.azurecr.io',
      requireAllImagesMatched: 'false',
    });
    assert.equal(result.result, 'Failed');
    assert.match(
      result.message,
      /images come from registries allowedRegistries does not allow; no file was changed:\n.*rendered-chart\.yaml:73: .*envoy/s,
    );
    assert.deepEqual(snapshot(work), before);
  });

  const badInputs: Array<[string, Record<string, string>, RegExp]> = [
    [
      'a mode it does not know',
      { files: 'compose.yaml', images: WEB, mode: 'fast' },
      /The input mode has the value "fast": use one of pin, check\./,
    ],
    [
      'an images line without a digest',
      { files: 'compose.yaml', images: 'myacr.azurecr.io/team/web:1.4.2' },
      /The input images has the line "myacr\.azurecr\.io\/team\/web:1\.4\.2": it has no digest.*\$\(capture\.IMAGE_REF\)/,
    ],
    [
      'no images in pin mode',
      { files: 'compose.yaml' },
      /The input images is required and is empty in mode pin.*mode: check/,
    ],
    [
      'a files pattern that matches nothing',
      { files: 'deploy/**/*.yaml', images: WEB },
      /The input files has the pattern "deploy\/\*\*\/\*\.yaml", which matches no file under .*Fix the path/,
    ],
    [
      'a helmDigestKey that is not a path',
      { files: 'values.yaml', images: WEB, helmDigestKey: 'image..digest' },
      /The input helmDigestKey has the value "image\.\.digest": .*for example image\.digest\./,
    ],
    [
      'a keepTag that is not a boolean',
      { files: 'compose.yaml', images: WEB, keepTag: 'yes' },
      /The input keepTag has the value "yes": use true or false\./,
    ],
    [
      'an allowedRegistries line with a scheme',
      { files: 'compose.yaml', images: WEB, allowedRegistries: 'https://myacr.azurecr.io' },
      /The input allowedRegistries has the line "https:\/\/myacr\.azurecr\.io": write the registry host without a scheme/,
    ],
  ];
  for (const [what, inputs, message] of badInputs) {
    it(`fails on ${what}, naming the input, the value and the fix`, async () => {
      const result = await run(inputs);
      assert.equal(result.result, 'Failed');
      assert.match(result.message, message);
    });
  }

  it('keeps its input and output names (renaming one breaks every pipeline that uses it)', () => {
    const task: unknown = readTaskJson('DigestPin');
    assert.ok(
      task !== null &&
        typeof task === 'object' &&
        'inputs' in task &&
        Array.isArray(task.inputs) &&
        'outputVariables' in task &&
        Array.isArray(task.outputVariables),
    );
    const names = (list: unknown[]) =>
      list.map((item) => (item !== null && typeof item === 'object' && 'name' in item ? item.name : undefined));
    assert.deepEqual(names(task.inputs), [
      'files',
      'images',
      'mode',
      'allowedRegistries',
      'keepTag',
      'helmDigestKey',
      'requireAllImagesMatched',
    ]);
    assert.deepEqual(names(task.outputVariables), ['PINNED_COUNT', 'FILES_CHANGED']);
  });

  describe("files: only in the job's folders, only regular files, within limits", () => {
    let outside: string;
    const OUTSIDE_TEXT = 'services:\n  web:\n    image: myacr.azurecr.io/team/web:1.4.2\n';
    beforeEach(() => {
      outside = join(job.workFolder, '..', 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'x.yaml'), OUTSIDE_TEXT);
    });
    const folders = () =>
      `outside the job's folders (Pipeline.Workspace (${job.buildDirectory}), Agent.TempDirectory (${job.tempDirectory})); DigestPin reads and writes files only there`;

    it("refuses a committed link that leads out of the job's folders, in both modes, naming it and the fix, and changes nothing", async () => {
      mkdirSync(join(work, 'deploy'));
      writeFileSync(join(work, 'deploy', 'web.yaml'), OUTSIDE_TEXT);
      symlinkSync(join(outside, 'x.yaml'), join(work, 'deploy', 'link.yaml'));
      const before = snapshot(work);
      for (const mode of ['pin', 'check']) {
        const result = await run({ files: 'deploy/*.yaml', images: WEB, mode });
        assert.equal(result.result, 'Failed', result.message);
        assert.equal(
          result.message,
          `The input files matches deploy/link.yaml, a symbolic link that leads to ${join(outside, 'x.yaml')}, ${folders()}, never through a link that leads out. Replace the link with the file, or leave it out (!deploy/link.yaml).\nNo file was read or changed. [OUTSIDE_JOB_FOLDERS]`,
        );
        assert.equal(result.outputs.FILES_CHANGED, undefined, 'the task stopped before planning');
      }
      assert.equal(readFileSync(join(outside, 'x.yaml'), 'utf8'), OUTSIDE_TEXT);
      assert.deepEqual(snapshot(work), before);
      const excluded = await run({ files: 'deploy/*.yaml\n!deploy/link.yaml', images: WEB });
      assert.equal(excluded.result, 'Succeeded', excluded.message);
      assert.equal(readFileSync(join(outside, 'x.yaml'), 'utf8'), OUTSIDE_TEXT);
    });

    it('refuses every pattern that leads out, literal or glob, .. or absolute, and every file under a folder link that does, all named at once', async () => {
      symlinkSync(outside, join(work, 'shared'));
      const patterns = ['deploy/../../../../outside/x.yaml', '../../../outside/*.yaml', `${outside}/*.yaml`];
      const result = await run({ files: [...patterns, 'compose.yaml'].join('\n'), images: WEB });
      assert.equal(result.result, 'Failed', result.message);
      for (const pattern of patterns)
        assert.ok(
          result.message.includes(
            `The input files has the pattern "${pattern}", which leads to ${outside}${pattern.endsWith('x.yaml') ? '/x.yaml' : ''}, ${folders()}. Check out or download the files into`,
          ),
          result.message,
        );
      assert.match(result.message, /\[OUTSIDE_JOB_FOLDERS\]$/);
      const throughFolder = await run({ files: '**/*.yaml', images: WEB, requireAllImagesMatched: 'false' });
      assert.equal(throughFolder.result, 'Failed');
      assert.ok(
        throughFolder.message.includes(
          `The input files matches shared/x.yaml, which leads through a symbolic link to ${join(outside, 'x.yaml')}, ${folders()}`,
        ),
        throughFolder.message,
      );
      assert.equal(readFileSync(join(outside, 'x.yaml'), 'utf8'), OUTSIDE_TEXT);
    });

    it("pins files anywhere in the job's folders: a downloaded artifact, the temp folder, a link that stays inside, a pattern with ..", async () => {
      const artifact = join(job.buildDirectory, 'manifests', 'web');
      mkdirSync(artifact, { recursive: true });
      writeFileSync(join(artifact, 'web.yaml'), OUTSIDE_TEXT);
      writeFileSync(join(job.tempDirectory, 'rendered.yaml'), OUTSIDE_TEXT);
      mkdirSync(join(work, 'deploy'));
      symlinkSync(join(artifact, 'web.yaml'), join(work, 'deploy', 'web.yaml'));
      const result = await run({
        files:
          '$(Pipeline.Workspace)/manifests/**/*.yaml\n$(Agent.TempDirectory)/rendered.yaml\ndeploy/../deploy/*.yaml',
        images: WEB,
      });
      assert.equal(result.result, 'Succeeded', result.message);
      assert.equal(result.outputs.FILES_CHANGED, '2', 'the link and its target are one file');
      for (const path of [join(artifact, 'web.yaml'), join(job.tempDirectory, 'rendered.yaml')])
        assert.equal(readFileSync(path, 'utf8'), OUTSIDE_TEXT.replace('web:1.4.2', `web@${digestOf('web')}`));
      assert.ok(lstatSync(join(work, 'deploy', 'web.yaml')).isSymbolicLink(), 'the link stays a link');
    });

    it('refuses a named pipe and a file over the limits without reading them, naming the file, its size and the limit', async () => {
      assert.equal(spawnSync('mkfifo', [join(work, 'pipe.yaml')]).status, 0);
      const pipe = await run({ files: '*.yaml', images: WEB, requireAllImagesMatched: 'false' });
      assert.equal(pipe.result, 'Failed');
      assert.match(
        pipe.message,
        /^The input files matches pipe\.yaml: it is a named pipe, not a regular file; only regular files are read\. Leave it out of the files input \(!pipe\.yaml\)\.\nNo file was read or changed\. \[FILE_ACCESS\]$/,
      );
      rmSync(join(work, 'pipe.yaml'));

      const big = join(work, 'big', 'values.yaml');
      mkdirSync(dirname(big));
      writeFileSync(big, '');
      truncateSync(big, 52 * 1024 * 1024);
      const tooLarge = await run({ files: 'big/values.yaml', images: WEB });
      assert.equal(tooLarge.result, 'Failed');
      assert.equal(
        tooLarge.message,
        'The input files matches big/values.yaml: the file is 52 MiB, over the 8 MiB limit for a file DigestPin reads; it was not read. Leave it out of the files input (!big/values.yaml).\nNo file was read or changed. [FILE_ACCESS]',
      );

      rmSync(big);
      for (let i = 0; i < 9; i++) {
        writeFileSync(join(work, 'big', `part-${i}.yaml`), '');
        truncateSync(join(work, 'big', `part-${i}.yaml`), 7.5 * 1024 * 1024);
      }
      const total = await run({ files: 'big/*.yaml', images: WEB });
      assert.equal(total.result, 'Failed');
      assert.equal(
        total.message,
        'The input files matches 9 files of 67.5 MiB (70778880 bytes) in all, over the 64 MiB DigestPin reads in one step; no file was read or changed. Narrow the patterns, or split the files over several DigestPin steps. [FILE_ACCESS]',
      );
    });

    it('keeps a byte order mark and CRLF line endings byte for byte, changing only the image value', async () => {
      const text =
        '\uFEFF# deployed by the release\r\nservices:\r\n  web:\r\n    image: myacr.azurecr.io/team/web:1.4.2\r\n';
      writeFileSync(join(work, 'bom.yaml'), Buffer.from(text, 'utf8'));
      const result = await run({ files: 'bom.yaml', images: WEB });
      assert.equal(result.result, 'Succeeded', result.message);
      const after = readFileSync(join(work, 'bom.yaml'));
      assert.deepEqual([...after.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
      assert.deepEqual(after, Buffer.from(text.replace('web:1.4.2', `web@${digestOf('web')}`), 'utf8'));
    });
  });
});
