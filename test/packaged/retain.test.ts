import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactManifest, uploadArtifactBlobs } from '../../src/evidence/artifact';
import { IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE, STATEMENT_TYPE } from '../../src/evidence/predicate';
import type { Digest } from '../../src/reference/digest';
import { parseDigest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { OCI_MANIFEST } from '../../src/registry/manifest-parse';
import { pushReferrer } from '../../src/registry/referrers';
import { daysAgoEnv } from '../../lab/clock';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { startProxy } from '../../lab/proxy';
import { OciLayout, inspectRaw, push, sha256Hex } from '../../lab/images';
import { failedWith, succeeded } from '../../lab/outcome';
import type { TaskRun } from '../../lab/agent';
import { AgentJob, runTask } from '../../lab/agent';
import { field } from '../../lab/field';

// DigestRetain@1 run from the packaged .vsix against the real distribution registry (no referrers
// API: the releases are found through the sha256-<hex> tag schema), on releases recorded by the
// packaged DigestEvidence@1 itself: two environments, releases made up to 120 days ago (the
// evidence task run on an agent whose clock reads that day, see lab/clock.ts), each naming the
// one before as its rollback target, and one digest with evidence that cannot be read.

const short = (digest: string): string => digest.slice(0, 19);

describe('DigestRetain@1 report (packaged task, real registry, evidence by DigestEvidence@1)', function () {
  this.timeout(300_000);
  let g: TestGround;
  const repo = 'retain/shop';
  const r: Record<string, Digest> = {};

  const image = (tag: string): string => `${g.open.host}/${repo}:${tag}`;
  const evidence = async (
    tag: string,
    environment: string,
    daysAgo: number,
    rollbackDigest?: string,
  ): Promise<void> => {
    const run = await runTask('DigestEvidence', {
      inputs: {
        image: `${image(tag)}@${r[tag]}`,
        environment,
        scanStatus: 'passed',
        approver: 'Release Manager',
        connectionType: 'anonymous',
        ...(rollbackDigest ? { rollbackDigest } : {}),
      },
      hostEnv: { ...g.hostEnv, ...(daysAgo > 0 ? daysAgoEnv(join(g.dir, 'retain-clock'), daysAgo) : {}) },
    });
    succeeded(run);
  };
  let retainRuns = 0;
  const retain = (inputs: Record<string, string>): Promise<TaskRun> =>
    runTask('DigestRetain', {
      // One agent home, kept after each run, so the keep list in the staging directory can be read.
      home: join(g.dir, 'agent-retain'),
      inputs: {
        repository: `${g.open.host}/${repo}`,
        connectionType: 'anonymous',
        outputPath: `$(Build.ArtifactStagingDirectory)/retain/keep-${++retainRuns}.json`,
        ...inputs,
      },
      hostEnv: g.hostEnv,
    });
  const keepList = (run: TaskRun): unknown => JSON.parse(readFileSync(run.outputs.KEEP_LIST_PATH!, 'utf8'));
  const reasons = (list: unknown, environment: string): Record<string, unknown> => {
    const keep = field(list, 'keep') as unknown[];
    return Object.fromEntries(
      keep
        .filter((e) => field(e, 'environment') === environment)
        .map((e) => [field(e, 'digest') as string, field(e, 'reasons')]),
    );
  };

  before(async () => {
    g = await testGround();
    const layout = new OciLayout(join(g.dir, 'retain-layout'));
    for (const tag of ['r1', 'r2', 'r3', 'r4', 'r5', 'r7']) layout.image(tag, 'amd64', `shop ${tag}\n`);
    layout.image('r6-amd64', 'amd64', 'shop r6 amd64\n');
    layout.image('r6-arm64', 'arm64', 'shop r6 arm64\n');
    layout.index('r6', [
      { tag: 'r6-amd64', architecture: 'amd64' },
      { tag: 'r6-arm64', architecture: 'arm64', variant: 'v8' },
    ]);
    for (const tag of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']) {
      push(layout, tag, image(tag), g.openAccess, tag === 'r6' ? { all: true } : {});
      r[tag] = parseDigest(sha256Hex(inspectRaw(image(tag), g.openAccess)));
    }
    // prod: r1 (120 days ago) -> r2 (90) -> r3 (75) -> r4 (5) -> r5 (today), each rolling back to the one before.
    await evidence('r1', 'prod', 120);
    await evidence('r2', 'prod', 90, 'auto');
    await evidence('r3', 'prod', 75, 'auto');
    await evidence('r4', 'prod', 5, 'auto');
    await evidence('r5', 'prod', 0, 'auto');
    // staging: r4 (10 days ago), then the two-platform r6 today.
    await evidence('r4', 'staging', 10);
    await evidence('r6', 'staging', 0, 'auto');
    // r7 carries something that claims to be our evidence and is not.
    const client = new RegistryClient(g.open.host);
    const head = (await client.headManifest(repo, r.r7!))!;
    const statement = Buffer.from(
      JSON.stringify({
        _type: STATEMENT_TYPE,
        predicateType: PREDICATE_TYPE,
        subject: [{ name: `${g.open.host}/${repo}`, digest: { sha256: r.r7!.slice(7) } }],
        predicate: { image: {} },
      }),
    );
    const artifact = {
      artifactType: IN_TOTO_MEDIA_TYPE,
      layer: { mediaType: IN_TOTO_MEDIA_TYPE, bytes: statement },
      subject: { mediaType: head.mediaType, digest: r.r7!, size: head.size },
    };
    await uploadArtifactBlobs(client, repo, artifact);
    await pushReferrer(client, repo, artifactManifest(artifact), OCI_MANIFEST, r.r7!);
  });

  it('keeps per environment the current release, the last N, the releases of the last D days and the rollback targets they name, even one older than the window; reports evidence it cannot read', async () => {
    // Without outputPath the keep list goes to the agent's temporary folder, read here before the job ends.
    const job = new AgentJob({ hostEnv: g.hostEnv });
    let run: TaskRun;
    let list: unknown;
    try {
      run = await job.run('DigestRetain', {
        inputs: {
          repository: `${g.open.host}/${repo}`,
          connectionType: 'anonymous',
          keepReleases: '2',
          keepDays: '30',
        },
      });
      succeeded(run);
      assert.equal(
        run.outputs.KEEP_LIST_PATH,
        join(job.tempDirectory, 'digest-retain', `keep-${g.open.host.replace(':', '_')}-retain_shop.json`),
      );
      list = keepList(run);
    } finally {
      job.dispose();
    }
    assert.equal(run.outputs.KEEP_COUNT, '5');
    assert.equal(run.outputs.PROTECTED_COUNT, '0');
    assert.equal(run.outputs.RELEASED_COUNT, '0');
    assert.deepEqual(reasons(list, 'prod'), {
      [r.r5!]: ['current', 'withinDays'],
      [r.r4!]: ['withinReleases', 'withinDays', 'rollbackTarget'],
      [r.r3!]: ['rollbackTarget'], // 75 days old, outside both windows: kept because r4's evidence names it
    });
    assert.deepEqual(reasons(list, 'staging'), {
      [r.r6!]: ['current', 'withinDays'],
      [r.r4!]: ['withinReleases', 'withinDays', 'rollbackTarget'],
    });
    assert.deepEqual(reasons(list, '(unreadable evidence)'), { [r.r7!]: ['evidenceUnreadable'] });
    assert.deepEqual(field(list, 'digests'), [r.r3, r.r4, r.r5, r.r6, r.r7].sort());
    assert.equal(field(list, 'discovery', 'source'), 'tagSchema');

    // The inventory: what runs where and what a rollback goes to, every release with its age.
    const prod = (field(list, 'environments') as unknown[]).find((e) => field(e, 'environment') === 'prod');
    assert.equal(field(prod, 'current'), r.r5);
    assert.equal(field(prod, 'rollbackTarget'), r.r4);
    const releases = field(prod, 'releases') as unknown[];
    assert.deepEqual(
      releases.map((x) => field(x, 'digest')),
      [r.r5, r.r4, r.r3, r.r2, r.r1],
    );
    assert.deepEqual(
      releases.map((x) => field(x, 'ageDays')),
      [0, 5, 75, 90, 120],
    );
    assert.deepEqual(
      releases.map((x) => field(x, 'kept')),
      [true, true, true, false, false],
    );

    // Keeping r6 keeps its platforms and its evidence; keeping anything keeps its evidence.
    const manifests = field(list, 'manifests') as unknown[];
    const roles = (role: string): unknown[] => manifests.filter((m) => (field(m, 'roles') as string[]).includes(role));
    assert.equal(roles('release').length, 5);
    assert.equal(roles('platform').length, 2);
    assert.deepEqual(
      roles('platform').map((m) => field(m, 'releases')),
      [[r.r6], [r.r6]],
    );
    assert.equal(roles('evidence').length, 5, 'the evidence of r5, r4 and r3 in prod and of r6 and r4 in staging');

    // The evidence that cannot be read: a warning, and the summary says so.
    assert.ok(
      run.warnings.some((w) => w.includes(r.r7!) && w.includes('malformed')),
      run.warnings.join('\n'),
    );
    const summary = run.summaries[0]!;
    assert.match(summary, /### Release inventory of `127\.0\.0\.1:\d+\/retain\/shop`/);
    assert.ok(
      summary.includes(`#### prod\n\nRuns \`${short(r.r5!)}\`; a rollback goes to \`${short(r.r4!)}\`.`),
      summary,
    );
    assert.ok(summary.includes(`| \`${short(r.r3!)}\` | rollback target of ${short(r.r4!)} |`), summary);
    assert.ok(summary.includes('| 120 d | passed | not kept |'), summary);
    assert.ok(
      summary.includes('#### Look into') &&
        summary.includes(`\`${short(r.r7!)}\` is kept because its evidence cannot be read`),
      summary,
    );
    assert.match(run.message, /^Kept 5 digests of 127\.0\.0\.1:\d+\/retain\/shop for 2 environments\.$/);
  });

  it('decides only for the environments named, by count only with keepDays 0, and names an environment no evidence knows', async () => {
    const run = await retain({
      environments: 'PROD\nqa',
      keepReleases: '1',
      keepDays: '0',
      keepRollbackTargets: 'false',
    });
    succeeded(run);
    const list = keepList(run);
    assert.deepEqual(reasons(list, 'prod'), { [r.r5!]: ['current'] });
    assert.deepEqual(field(list, 'unknownEnvironments'), ['qa']);
    assert.equal(run.outputs.KEEP_COUNT, '2', 'r5, and r7 whose evidence cannot be read');
    assert.ok(
      run.warnings.some((w) => w.includes('The input environments names qa')),
      run.warnings.join('\n'),
    );
  });

  it('protect on a registry without locks fails with the reason, or with failOnUnsupported false writes the keep list and warns', async () => {
    failedWith(
      await retain({ action: 'protect' }),
      'LOCK_UNSUPPORTED',
      'is not an Azure Container Registry',
      'action: report',
      'failOnUnsupported: false',
    );
    const run = await retain({
      action: 'protect',
      failOnUnsupported: 'false',
      outputPath: '$(Build.ArtifactStagingDirectory)/retain/keep.json',
    });
    succeeded(run);
    assert.equal(run.outputs.KEEP_LIST_PATH, join(g.dir, 'agent-retain', '_work', '1', 'a', 'retain', 'keep.json'));
    assert.equal(run.outputs.PROTECTED_COUNT, '0');
    assert.equal(field(keepList(run), 'protection'), null);
    assert.ok(run.warnings.some((w) => w.includes('failOnUnsupported is false')));
    assert.ok(run.summaries[0]!.includes('**Not protected:**'));
  });

  it('decides nothing when the evidence of a digest cannot be read: the keep list would be incomplete', async () => {
    // A proxy before the registry refuses the referrers index of r5, as a registry with a broken permission would.
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      intercept: (_method, path) =>
        path.endsWith(`/manifests/${r.r5!.replace(':', '-')}`)
          ? {
              status: 403,
              headers: { 'content-type': 'application/json' },
              body: Buffer.from(
                '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
              ),
            }
          : undefined,
    });
    try {
      const run = await runTask('DigestRetain', {
        inputs: { repository: `${proxy.host}/${repo}`, connectionType: 'anonymous' },
        hostEnv: g.hostEnv,
      });
      failedWith(
        run,
        'KEEP_LIST_INCOMPLETE',
        `The evidence of 1 digest in ${proxy.host}/${repo} could not be read`,
        r.r5!,
        'denied',
        'do not clean up this repository before',
      );
    } finally {
      await proxy.close();
    }
  });

  it('refuses inputs it cannot use, naming the input, the value and the fix', async () => {
    failedWith(
      await retain({ repository: `${g.open.host}/${repo}:r5` }),
      'INVALID_INPUT',
      'The input repository has the value',
      ':r5',
      `name the repository only, ${g.open.host}/${repo}`,
    );
    failedWith(
      await retain({ keepReleases: '0' }),
      'INVALID_INPUT',
      'The input keepReleases has the value "0"',
      'from 1 to 1000',
    );
    failedWith(
      await retain({ keepDays: 'sixty' }),
      'INVALID_INPUT',
      'The input keepDays has the value "sixty"',
      'whole number from 0',
    );
    failedWith(
      await retain({ action: 'purge' }),
      'INVALID_INPUT',
      'The input action has the value "purge"',
      'report, protect',
    );
  });
});
