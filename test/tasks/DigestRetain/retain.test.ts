import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evidenceTask } from '../../../src/tasks/DigestEvidence/evidence';
import { retainTask } from '../../../src/tasks/DigestRetain/retain';
import type { TestGround } from '../../../lab/ground';
import { testGround } from '../../../lab/ground';
import { inspectRaw, push, sha256Hex } from '../../../lab/images';
import { failedWith, itRefuses, runOperation, succeeded } from '../fake-context';

// DigestRetain@1's decisions over a fake TaskContext, on releases DigestEvidence@1 records in this
// process on the days a test chooses (the operations take their clock): the inputs it refuses, which
// digests a policy keeps and why, the keep list and summary, and protect on a registry that is not
// ACR. Protect on ACR, and retention as the agent runs the packaged task: test/packaged/retain.test.ts
// and retain-acr.test.ts.

const REPOSITORY = 'fast/retain';
const NOW = new Date('2026-06-01T12:00:00Z');
const daysAgo = (days: number): Date => new Date(NOW.getTime() - days * 24 * 3600 * 1000);
const short = (digest: string): string => digest.slice(0, 19);

describe('DigestRetain@1 decisions (fake TaskContext)', function () {
  this.timeout(60_000);
  let g: TestGround;
  let work: string;
  /** Three releases to prod, 100, 50 and 1 days ago, each naming the one before as its rollback target. */
  const r: string[] = [];

  const variables = () => ({
    'Pipeline.Workspace': work,
    'System.DefaultWorkingDirectory': work,
    'Agent.TempDirectory': join(work, '_temp'),
  });
  const retain = (inputs: Record<string, string>) =>
    runOperation((context) => retainTask(context, () => NOW), {
      task: 'DigestRetain',
      inputs: { repository: `${g.open.host}/${REPOSITORY}`, connectionType: 'anonymous', ...inputs },
      variables: variables(),
    });

  before(async () => {
    g = await testGround();
    work = mkdtempSync(join(tmpdir(), 'digest-retain-'));
    for (const [i, tag] of ['amd64', 'arm64', 'multi'].entries()) {
      push(g.layout, tag, `${g.open.host}/${REPOSITORY}:r${i + 1}`, g.openAccess, { all: tag === 'multi' });
      r.push(sha256Hex(inspectRaw(`${g.open.host}/${REPOSITORY}:r${i + 1}`, g.openAccess)));
    }
    for (const [i, days] of [100, 50, 1].entries()) {
      const run = await runOperation((context) => evidenceTask(context, () => daysAgo(days)), {
        task: 'DigestEvidence',
        inputs: {
          image: `${g.open.host}/${REPOSITORY}@${r[i]}`,
          environment: 'prod',
          scanStatus: 'passed',
          approver: 'Release Manager',
          connectionType: 'anonymous',
          ...(i > 0 ? { rollbackDigest: r[i - 1]! } : {}),
        },
        variables: variables(),
      });
      succeeded(run);
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  describe('refuses inputs before asking any registry', () => {
    const repository = 'nowhere.invalid/shop/api';
    itRefuses(retain, [
      [
        'a repository with a tag',
        { repository: `${repository}:1.0` },
        /^The input repository has the value "nowhere\.invalid\/shop\/api:1\.0": name the repository only, nowhere\.invalid\/shop\/api: /,
      ],
      [
        'keepReleases 0',
        { repository, keepReleases: '0' },
        /^The input keepReleases has the value "0": use a whole number from 1 to 1000 \(releases kept per environment, the current one included; 3 is the default\)\.$/,
      ],
      [
        'keepDays that is not a number',
        { repository, keepDays: 'sixty' },
        /^The input keepDays has the value "sixty": use a whole number from 0 to 36500 /,
      ],
      [
        'an action it does not know',
        { repository, action: 'delete' },
        /^The input action has the value "delete": use one of report, protect\.$/,
      ],
    ]);

    it('an outputPath outside the job folders', async () => {
      const run = await retain({ repository, outputPath: '/etc/keep.json' });
      failedWith(
        run,
        'OUTSIDE_JOB_FOLDERS',
        /^The input outputPath has the value "\/etc\/keep\.json", which leads to .*DigestRetain writes only there\./,
      );
    });
  });

  it('report keeps the current release and its rollback target (keepReleases 1, keepDays 30), and writes why in the keep list and summary', async () => {
    const run = await retain({ keepReleases: '1', keepDays: '30' });
    assert.equal(succeeded(run), `Kept 2 digests of ${g.open.host}/${REPOSITORY} for 1 environment.`);
    assert.equal(run.context.outputs.KEEP_COUNT, '2');
    assert.equal(run.context.outputs.PROTECTED_COUNT, '0');
    assert.equal(run.context.outputs.RELEASED_COUNT, '0');
    const list = JSON.parse(readFileSync(run.context.outputs.KEEP_LIST_PATH!, 'utf8')) as {
      keep: { digest: string; environment: string; reasons: string[] }[];
    };
    assert.deepEqual(
      Object.fromEntries(list.keep.map((entry) => [entry.digest, `${entry.environment}: ${entry.reasons.join(', ')}`])),
      {
        [r[2]!]: 'prod: current, withinDays',
        [r[1]!]: 'prod: rollbackTarget',
      },
    );
    assert.ok(
      run.context.log.includes(`prod: runs ${r[2]}; rollback target ${r[1]}; 3 digest(s) released, 2 kept.`),
      run.context.log.join('\n'),
    );
    const summary = run.context.summary('DigestRetain');
    assert.match(
      summary,
      new RegExp(`^### Release inventory of \`${g.open.host.replace(/\./g, '\\.')}/${REPOSITORY}\`\\n`),
    );
    assert.ok(summary.includes(`Runs \`${short(r[2]!)}\`; a rollback goes to \`${short(r[1]!)}\`.`));
    assert.ok(summary.includes('| not kept |'), 'the oldest release is shown, not kept');
  });

  it('warns about an environment no evidence names', async () => {
    const run = await retain({ environments: 'prod\nprdo' });
    succeeded(run);
    assert.ok(
      run.context.warnings.some((w) =>
        w.startsWith(`The input environments names prdo, but no evidence in ${g.open.host}/${REPOSITORY} is for it`),
      ),
      run.context.warnings.join('\n'),
    );
  });

  it('protect on a registry that is not ACR: fails before reading anything, or with failOnUnsupported: false warns and writes the keep list only', async () => {
    const strict = await retain({ action: 'protect' });
    failedWith(
      strict,
      'LOCK_UNSUPPORTED',
      /then use action: report .* or set failOnUnsupported: false so this step warns instead of failing\.$/,
    );
    assert.deepEqual(strict.context.outputs, {});

    const relaxed = await retain({ action: 'protect', failOnUnsupported: 'false' });
    assert.equal(
      succeeded(relaxed),
      `Kept 3 digests of ${g.open.host}/${REPOSITORY} for 1 environment; nothing protected: not an Azure Container Registry.`,
    );
    assert.ok(
      relaxed.context.warnings.some((w) =>
        w.endsWith('(failOnUnsupported is false: the keep list is written, nothing is protected.)'),
      ),
    );
    assert.equal(relaxed.context.outputs.PROTECTED_COUNT, '0');
    assert.match(
      relaxed.context.summary('DigestRetain'),
      /\*\*Not protected:\*\* .* is not an Azure Container Registry/,
    );
  });
});
