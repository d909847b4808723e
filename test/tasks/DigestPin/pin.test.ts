import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinTask } from '../../../src/tasks/DigestPin/pin';
import { failedWith, runOperation, succeeded } from '../fake-context';

// DigestPin@1's decisions over a fake TaskContext: which inputs it refuses and how it says so,
// pin or check, what it reports and what it writes. No registry: the inputs and the files decide.
// Globs, the agent's rooting of paths and the log as the agent shows it: test/packaged/pin.test.ts.

const digestOf = (seed: string): string => `sha256:${createHash('sha256').update(seed).digest('hex')}`;
const WEB = `myacr.azurecr.io/team/web@${digestOf('web')}`;
const COMPOSE = 'services:\n  web:\n    image: myacr.azurecr.io/team/web:1.4.2\n  db:\n    image: postgres:16\n';

describe('DigestPin@1 decisions (fake TaskContext)', () => {
  let work: string;
  let compose: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'digest-pin-'));
    compose = join(work, 'compose.yaml');
    writeFileSync(compose, COMPOSE);
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** A step whose job folders are the scratch folder, as Pipeline.Workspace and the working directory. */
  const pin = (inputs: Record<string, string>) =>
    runOperation(pinTask, {
      task: 'DigestPin',
      inputs,
      variables: { 'Pipeline.Workspace': work, 'System.DefaultWorkingDirectory': work },
    });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    [
      'no images in mode pin',
      { files: 'compose.yaml' },
      /^The input images is required and is empty in mode pin\. .*images: \$\(capture\.IMAGE_REF\); or set mode: check/,
    ],
    [
      'a mode it does not know',
      { files: 'compose.yaml', images: WEB, mode: 'fast' },
      /^The input mode has the value "fast": use one of pin, check\.$/,
    ],
    [
      'an images line without a digest',
      { files: 'compose.yaml', images: 'myacr.azurecr.io/team/web:1.4.2' },
      /^The input images has the line "myacr\.azurecr\.io\/team\/web:1\.4\.2": it has no digest/,
    ],
    [
      'a helmDigestKey that is not a path',
      { files: 'compose.yaml', images: WEB, helmDigestKey: 'image..digest' },
      /^The input helmDigestKey has the value "image\.\.digest": .*for example image\.digest\./,
    ],
    [
      'a keepTag that is not a boolean',
      { files: 'compose.yaml', images: WEB, keepTag: 'yes' },
      /^The input keepTag has the value "yes": use true or false\.$/,
    ],
    [
      'only exclusions in files',
      { files: '!compose.yaml', images: WEB },
      /^The input files has only exclusions \(!compose\.yaml\): add a pattern of the files to pin/,
    ],
    [
      'a file that is not there',
      { files: 'deploy.yaml', images: WEB },
      /^The input files has the pattern "deploy\.yaml", which matches no file under .*Fix the path/,
    ],
  ];
  for (const [what, inputs, message] of refused) {
    it(`refuses ${what}, naming the input, the value and the fix, and changes nothing`, async () => {
      const run = await pin(inputs);
      failedWith(run, 'INVALID_INPUT', message);
      assert.equal(readFileSync(compose, 'utf8'), COMPOSE);
    });
  }

  it('refuses a file outside the job folders before reading anything', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'digest-pin-outside-'));
    try {
      writeFileSync(join(outside, 'compose.yaml'), COMPOSE);
      const run = await pin({ files: join(outside, 'compose.yaml'), images: WEB });
      failedWith(
        run,
        'OUTSIDE_JOB_FOLDERS',
        /outside the job's folders .*DigestPin reads and writes files only there/,
        /No file was read or changed\.$/,
      );
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('pin: rewrites the targeted image, warns about the one left by tag, and reports counts and a summary', async () => {
    const run = await pin({ files: 'compose.yaml', images: WEB });
    assert.match(succeeded(run), /^1 image references pinned; 1 of 1 files changed\.$/);
    assert.equal(readFileSync(compose, 'utf8'), COMPOSE.replace('myacr.azurecr.io/team/web:1.4.2', WEB));
    assert.deepEqual(run.context.outputs, { PINNED_COUNT: '1', FILES_CHANGED: '1' });
    assert.ok(
      run.context.issues.some(
        (i) =>
          i.type === 'warning' &&
          i.file === 'compose.yaml' &&
          i.line === 5 &&
          /postgres:16 is not pinned/.test(i.message),
      ),
      JSON.stringify(run.context.issues),
    );
    assert.ok(run.context.log.includes('Pinned compose.yaml.'));
    const summary = run.context.summary('DigestPin');
    assert.match(summary, /^### Images pinned to digests\n/);
    assert.match(
      summary,
      /\| compose\.yaml:3 \| `myacr\.azurecr\.io\/team\/web:1\.4\.2` \| `myacr\.azurecr\.io\/team\/web@sha256:/,
    );
  });

  it('check: fails on every unpinned image with file and line, sets FILES_CHANGED=0 and writes nothing', async () => {
    const run = await pin({ files: 'compose.yaml', mode: 'check' });
    failedWith(
      run,
      'PIN_CHECK_FAILED',
      /^2 problems with the images in compose\.yaml:\n/,
      /compose\.yaml:3: .*myacr\.azurecr\.io\/team\/web:1\.4\.2/,
      /compose\.yaml:5: .*postgres:16/,
    );
    assert.deepEqual(run.context.outputs, { PINNED_COUNT: '0', FILES_CHANGED: '0' });
    assert.deepEqual(
      run.context.issues.filter((i) => i.type === 'error').map((i) => `${i.file}:${i.line}`),
      ['compose.yaml:3', 'compose.yaml:5'],
    );
    assert.match(run.context.summary('DigestPin'), /^### Images not pinned, not allowed or not understood\n/);
    assert.equal(readFileSync(compose, 'utf8'), COMPOSE);
  });

  it('check passes on what pin wrote, and claims allowed registries only when asked', async () => {
    const images = `${WEB}\npostgres@${digestOf('pg')}`;
    succeeded(await pin({ files: 'compose.yaml', images }));
    const run = await pin({
      files: 'compose.yaml',
      mode: 'check',
      allowedRegistries: 'myacr.azurecr.io\ndocker.io/library',
    });
    assert.equal(
      succeeded(run),
      'All 2 image references in 1 files are pinned by digest and come from allowed registries.',
    );
    assert.match(run.context.summary('DigestPin'), /^### Every image is pinned\n/);
  });

  it('an images line that matches nothing fails the batch (the typo guard), or warns with requireAllImagesMatched: false', async () => {
    const typo = `myacr.azurecr.io/team/wbe@${digestOf('web')}`;
    const strict = await pin({ files: 'compose.yaml', images: `${WEB}\n${typo}` });
    failedWith(
      strict,
      'IMAGE_NOT_MATCHED',
      new RegExp(
        `match no image in the files: "${typo}"\\. The files name .*set requireAllImagesMatched: false\\. No file was changed\\.$`,
      ),
    );
    assert.equal(strict.context.outputs.FILES_CHANGED, '0');
    assert.equal(readFileSync(compose, 'utf8'), COMPOSE);

    const relaxed = await pin({ files: 'compose.yaml', images: `${WEB}\n${typo}`, requireAllImagesMatched: 'false' });
    succeeded(relaxed);
    assert.ok(relaxed.context.warnings.includes(`The images line "${typo}" matched no image in the files.`));
    assert.equal(relaxed.context.outputs.FILES_CHANGED, '1');
  });

  it('pin refuses images from registries that are not allowed, writing nothing', async () => {
    const run = await pin({ files: 'compose.yaml', images: WEB, allowedRegistries: 'myacr.azurecr.io' });
    failedWith(
      run,
      'DISALLOWED_REGISTRY',
      /^1 images come from registries allowedRegistries does not allow; no file was changed:\n {2}compose\.yaml:5: .*postgres:16/,
    );
    assert.match(run.context.summary('DigestPin'), /^### Nothing was pinned\n/);
    assert.equal(readFileSync(compose, 'utf8'), COMPOSE);
  });

  it('warns when the files name no container image at all', async () => {
    mkdirSync(join(work, 'conf'));
    writeFileSync(join(work, 'conf', 'settings.yaml'), 'replicas: 3\n');
    const run = await pin({ files: 'conf/settings.yaml', mode: 'check' });
    succeeded(run);
    assert.ok(
      run.context.warnings.some((w) => /^The files \(conf\/settings\.yaml\) name no container image\./.test(w)),
      run.context.warnings.join('\n'),
    );
  });
});
