import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import { attachEvidence } from '../../src/evidence/attach';
import { findEvidence } from '../../src/evidence/find';
import { serialiseEvidence } from '../../src/evidence/statement';
import { parseDigest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { referrersTag } from '../../src/registry/referrers';
import { samplePredicate } from '../evidence/helpers';
import type { AdoServer } from '../../lab/ado-server';
import { startAdoServer } from '../../lab/ado-server';
import type { TestGround } from '../../lab/ground';
import { pushSamples, testGround } from '../../lab/ground';
import { inspectRaw, sha256Hex } from '../../lab/images';
import { ROOT } from '../../lab/paths';
import type { TaskRun } from '../../lab/agent';
import { AgentJob, runTask } from '../../lab/agent';
import { field } from '../../lab/field';

// DigestEvidence@1 run from the packaged .vsix against the real distribution registry (no
// referrers API: evidence is found through the sha256-<hex> tag schema) and a local server that
// answers like Azure DevOps.

function succeeded(run: TaskRun): void {
  assert.equal(run.result, 'Succeeded', `task failed: ${run.message}\n${run.stdout}\n${run.stderr}`);
}

function failedWith(run: TaskRun, code: string, ...fragments: string[]): void {
  assert.equal(run.result, 'Failed', `task should fail with ${code}:\n${run.stdout}`);
  assert.match(run.message, new RegExp(`\\[${code}\\]$`), run.message);
  for (const fragment of fragments)
    assert.ok(run.message.includes(fragment), `message lacks "${fragment}": ${run.message}`);
}

function visibleOutput(run: TaskRun): string {
  return (run.stdout + run.stderr)
    .split('\n')
    .filter((line) => !line.startsWith('##vso[task.setsecret]'))
    .join('\n');
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

describe('DigestEvidence@1 (packaged task, real registry, Azure DevOps test server)', function () {
  this.timeout(180_000);
  let g: TestGround;
  let ado: AdoServer;
  const digests: Record<string, string> = {};
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\S+$/i);
  const schema = (name: string): object => {
    const doc: unknown = readJson(join(ROOT, 'schemas', name));
    if (typeof doc !== 'object' || doc === null) throw new Error(name);
    return doc;
  };
  const validatePredicate = ajv.compile(schema('evidence-predicate.schema.json'));
  const validateStatement = ajv.compile(schema('in-toto-statement-v1.schema.json'));

  before(async () => {
    g = await testGround();
    ado = await startAdoServer(g.certs);
    for (const repo of ['shop/web', 'rollback/app', 'rollback/scanned', 'verify/app', 'race/app'])
      pushSamples(g, g.open, g.openAccess, repo);
    for (const tag of ['oci', 'v2s2', 'multi'])
      digests[tag] = sha256Hex(inspectRaw(`${g.open.host}/shop/web:${tag}`, g.openAccess));
  });
  after(() => ado?.close());
  beforeEach(() => {
    ado.mode = 'normal';
  });

  const ref = (repo: string, tag: string) => `${g.open.host}/${repo}@${digests[tag]}`;
  let runs = 0;
  // One agent home for these runs, kept after each (as an agent keeps its work folder), so the
  // evidence written to the staging directory can be read after the run.
  // Runs at the same moment each take their own agent, as two jobs do: task-lib keeps the key of its
  // secret store in the agent's temp folder (.taskkey), which one run would rewrite under the other.
  const evidence = (
    inputs: Record<string, string>,
    variables: Record<string, string> = {},
    agent = 'agent-evidence',
  ) => {
    const job = ado.agentJob();
    return runTask('DigestEvidence', {
      ...job,
      home: join(g.dir, agent),
      inputs: {
        connectionType: 'anonymous',
        outputPath: `$(Build.ArtifactStagingDirectory)/evidence/run-${++runs}.json`,
        ...inputs,
      },
      variables: { ...job.variables, ...variables },
      hostEnv: g.hostEnv,
    });
  };

  it('records evidence: a valid in-toto statement naming the digest, the run, the scan report and the approver read from Azure DevOps', async () => {
    const report = join(g.dir, 'trivy.json');
    writeFileSync(report, '{"Results":[]}\n');
    ado.requests.length = 0;
    const run = await evidence({
      image: ref('shop/web', 'multi'),
      environment: 'prod',
      scanStatus: 'passed',
      scanReport: report,
      approver: 'auto',
    });
    succeeded(run);
    const path = run.outputs.EVIDENCE_PATH!;
    const bytes = readFileSync(path);
    assert.equal(run.outputs.EVIDENCE_DIGEST, sha256Hex(bytes));
    const doc = readJson(path);
    assert.ok(validateStatement(doc), JSON.stringify(validateStatement.errors));
    assert.ok(validatePredicate(field(doc, 'predicate')), JSON.stringify(validatePredicate.errors));
    assert.equal(field(doc, 'subject', '0', 'digest', 'sha256'), digests.multi!.slice(7));
    assert.equal(field(doc, 'predicate', 'image', 'mediaType'), 'application/vnd.oci.image.index.v1+json');
    const platforms = field(doc, 'predicate', 'image', 'platforms');
    assert.ok(typeof platforms === 'object' && platforms !== null);
    assert.equal(Object.keys(platforms).length, 2);
    assert.equal(
      field(doc, 'predicate', 'scan', 'report', 'sha256'),
      sha256Hex(Buffer.from('{"Results":[]}\n')).slice(7),
    );
    assert.equal(field(doc, 'predicate', 'run', 'id'), 4711);
    assert.equal(field(doc, 'predicate', 'run', 'commit'), '4f3e2d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2');
    assert.equal(field(doc, 'predicate', 'approval', 'status'), 'approved');
    assert.equal(field(doc, 'predicate', 'approval', 'approvers', '0', 'uniqueName'), 'dana@contoso.com');
    assert.equal(field(doc, 'predicate', 'lock', 'state'), 'notApplicable');

    // The approvals call was made, signed with the job's token, and the token is never shown.
    const call = ado.requests.find((r) => r.path.endsWith('/_apis/pipelines/approvals'));
    assert.equal(call?.query.get('$expand'), 'steps');
    assert.equal(call?.authorization, `Bearer ${ado.token}`);
    assert.ok(run.secrets.includes(ado.token), 'the token is handed to the agent for masking');
    assert.ok(!visibleOutput(run).includes(ado.token), 'the token never appears in the output');
    assert.ok(!bytes.toString('utf8').includes(ado.token), 'nor in the evidence');

    const upload = run.commands.find((c) => c.command === 'artifact.upload');
    assert.equal(upload?.properties.artifactname, 'release-evidence');
    assert.equal(upload?.message, path);
    assert.equal(run.summaries.length, 1);
    for (const text of [digests.multi!, 'passed', 'Dana Reviewer', 'notApplicable'])
      assert.ok(run.summaries[0]!.includes(text), `summary lacks ${text}`);
  });

  it('records a scanReport given relative to the repository, and records no report for an empty one (the agent roots both)', async () => {
    const job = new AgentJob({ ...ado.agentJob(), hostEnv: g.hostEnv });
    try {
      mkdirSync(join(job.sourcesDirectory, 'reports'));
      writeFileSync(join(job.sourcesDirectory, 'reports', 'trivy.json'), '{"Results":[]}\n');
      const base = {
        image: ref('shop/web', 'v2s2'),
        connectionType: 'anonymous',
        scanStatus: 'passed',
        approver: 'a',
        attach: 'false',
      };
      const relative = await job.run('DigestEvidence', {
        inputs: { ...base, scanReport: 'reports/trivy.json', outputPath: 'evidence/relative.json' },
      });
      succeeded(relative);
      assert.equal(
        relative.outputs.EVIDENCE_PATH,
        join(job.sourcesDirectory, 'evidence', 'relative.json'),
        'a relative outputPath starts at System.DefaultWorkingDirectory',
      );
      assert.equal(
        field(readJson(relative.outputs.EVIDENCE_PATH!), 'predicate', 'scan', 'report', 'name'),
        'trivy.json',
      );
      const empty = await job.run('DigestEvidence', {
        inputs: { ...base, scanReport: '', outputPath: 'evidence/empty.json' },
      });
      succeeded(empty);
      assert.equal(field(readJson(empty.outputs.EVIDENCE_PATH!), 'predicate', 'scan', 'report'), null);
    } finally {
      job.dispose();
    }
  });

  it('attaches the evidence so it is found again through the tag-schema fallback (distribution has no referrers API)', async () => {
    const run = await evidence({
      image: ref('shop/web', 'oci'),
      environment: 'staging',
      scanStatus: 'warned',
      approver: 'Release Manager',
    });
    succeeded(run);
    const client = new RegistryClient(g.open.host);
    const digest = parseDigest(digests.oci!);
    assert.ok(await client.headManifest('shop/web', referrersTag(digest)), 'the sha256-<hex> index tag exists');
    const { found, problems } = await findEvidence(client, 'shop/web', digest);
    assert.deepEqual(problems, []);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.evidence.digest, run.outputs.EVIDENCE_DIGEST);
    assert.equal(found[0]!.evidence.environment, 'staging');
    assert.deepEqual(readFileSync(run.outputs.EVIDENCE_PATH!), Buffer.from(found[0]!.evidence.bytes));
  });

  it('two runs recording evidence for one digest at once both keep their entry (tag-schema index): 20 rounds, no entry lost', async () => {
    const client = new RegistryClient(g.open.host);
    const digest = parseDigest(digests.oci!);
    const recorded: string[] = [];
    for (let round = 1; round <= 20; round++) {
      const runs = await Promise.all(
        ['a', 'b'].map((side) =>
          evidence(
            {
              image: ref('race/app', 'oci'),
              environment: `race-${side}-${round}`,
              scanStatus: 'passed',
              approver: 'a',
            },
            {},
            `agent-race-${side}`,
          ),
        ),
      );
      for (const run of runs) succeeded(run);
      recorded.push(...runs.map((run) => run.outputs.EVIDENCE_DIGEST!));
      const { found, problems } = await findEvidence(client, 'race/app', digest);
      assert.deepEqual(problems, []);
      const kept = new Set(found.map((f) => f.evidence.digest));
      assert.deepEqual(
        recorded.filter((d) => !kept.has(parseDigest(d))),
        [],
        `round ${round}: every recorded entry is still in the index`,
      );
    }
    assert.equal(new Set(recorded).size, 40);
  });

  it('rollbackDigest auto takes the digest of the latest earlier release to the same environment, among several', async () => {
    const repo = 'rollback/app';
    succeeded(await evidence({ image: ref(repo, 'v2s2'), environment: 'prod', scanStatus: 'passed', approver: 'a' }));
    succeeded(await evidence({ image: ref(repo, 'oci'), environment: 'prod', scanStatus: 'passed', approver: 'a' }));
    succeeded(
      await evidence({ image: ref(repo, 'v2s2'), environment: 'staging', scanStatus: 'passed', approver: 'a' }),
    );
    const run = await evidence({
      image: ref(repo, 'multi'),
      environment: 'prod',
      scanStatus: 'passed',
      approver: 'a',
      rollbackDigest: 'auto',
    });
    succeeded(run);
    const doc = readJson(run.outputs.EVIDENCE_PATH!);
    assert.equal(
      field(doc, 'predicate', 'rollback', 'digest'),
      digests.oci,
      'the previous prod release, not the later staging one',
    );
    assert.equal(field(doc, 'predicate', 'rollback', 'source'), 'auto');
    assert.ok(run.summaries[0]!.includes(digests.oci!));
  });

  it('rollbackDigest auto prefers the latest earlier release whose scan passed, and says which newer ones it skipped', async () => {
    const repo = 'rollback/scanned';
    succeeded(await evidence({ image: ref(repo, 'v2s2'), environment: 'prod', scanStatus: 'passed', approver: 'a' }));
    succeeded(await evidence({ image: ref(repo, 'oci'), environment: 'prod', scanStatus: 'failed', approver: 'a' }));
    const run = await evidence({
      image: ref(repo, 'multi'),
      environment: 'prod',
      scanStatus: 'passed',
      approver: 'a',
      rollbackDigest: 'auto',
    });
    succeeded(run);
    const doc = readJson(run.outputs.EVIDENCE_PATH!);
    assert.equal(
      field(doc, 'predicate', 'rollback', 'digest'),
      digests.v2s2,
      'the release with a passed scan, not the newer failed one',
    );
    const reason = field(doc, 'predicate', 'rollback', 'reason');
    assert.ok(
      typeof reason === 'string' && reason.includes(digests.oci!) && reason.includes('scan failed'),
      String(reason),
    );
    assert.ok(validatePredicate(field(doc, 'predicate')), JSON.stringify(validatePredicate.errors));
    assert.ok(
      run.warnings.some((w) => w.includes('Skipped 1 newer release to prod') && w.includes(digests.oci!)),
      run.warnings.join('\n'),
    );
    assert.ok(run.summaries[0]!.includes(digests.v2s2!));
  });

  it('rollbackDigest given must be a digest of the repository', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const run = await evidence({
      image: ref('shop/web', 'oci'),
      rollbackDigest: missing,
      attach: 'false',
      approver: 'a',
    });
    failedWith(run, 'INVALID_INPUT', 'rollbackDigest', missing);
  });

  it('verify passes for evidence that says the scan passed, and hands back the evidence', async () => {
    const recorded = await evidence({
      image: ref('verify/app', 'oci'),
      environment: 'prod',
      scanStatus: 'passed',
      approver: 'a',
    });
    succeeded(recorded);
    const run = await evidence({ mode: 'verify', image: ref('verify/app', 'oci'), environment: 'prod' });
    succeeded(run);
    assert.equal(run.outputs.EVIDENCE_DIGEST, recorded.outputs.EVIDENCE_DIGEST);
  });

  it('verify fails for a digest with no evidence', async () => {
    const run = await evidence({ mode: 'verify', image: ref('verify/app', 'multi') });
    failedWith(run, 'EVIDENCE_NOT_FOUND', digests.multi!);
  });

  it('verify fails when the evidence says the scan failed', async () => {
    succeeded(
      await evidence({ image: ref('verify/app', 'v2s2'), environment: 'prod', scanStatus: 'failed', approver: 'a' }),
    );
    const run = await evidence({ mode: 'verify', image: ref('verify/app', 'v2s2'), environment: 'prod' });
    failedWith(run, 'EVIDENCE_REJECTED', 'scanStatus failed');
  });

  it('verify fails for evidence of another environment', async () => {
    const run = await evidence({ mode: 'verify', image: ref('verify/app', 'oci'), environment: 'staging' });
    failedWith(run, 'EVIDENCE_NOT_FOUND', 'none for environment staging');
  });

  it('verify fails when the evidence attached to a digest is about another digest', async () => {
    const client = new RegistryClient(g.open.host);
    const target = parseDigest(sha256Hex(inspectRaw(`${g.open.host}/shop/web:multi`, g.openAccess)));
    const base = samplePredicate();
    const other = serialiseEvidence(
      samplePredicate({
        image: { ...base.image, registry: g.open.host, repository: 'shop/web', digest: digests.oci! },
      }),
    );
    const raw = inspectRaw(`${g.open.host}/shop/web:multi`, g.openAccess);
    await attachEvidence(client, 'shop/web', other, {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: target,
      size: raw.length,
    });
    const run = await evidence({ mode: 'verify', image: ref('shop/web', 'multi'), environment: 'prod' });
    failedWith(run, 'EVIDENCE_INVALID', `its statement is about ${digests.oci}`);
  });

  it('records the approver as unknown, with why, when Azure DevOps refuses the token', async () => {
    ado.mode = 'forbidden';
    const run = await evidence({ image: ref('shop/web', 'v2s2'), scanStatus: 'unknown', attach: 'false' });
    succeeded(run);
    const doc = readJson(run.outputs.EVIDENCE_PATH!);
    assert.equal(field(doc, 'predicate', 'approval', 'status'), 'unavailable');
    assert.match(String(field(doc, 'predicate', 'approval', 'reason')), /TF400813/);
    assert.ok(run.warnings.some((w) => w.includes('approver is recorded as unknown')));
    assert.ok(!visibleOutput(run).includes(ado.token));
  });

  it('refuses an image without a digest, naming the input, the value and the fix', async () => {
    const run = await evidence({ image: `${g.open.host}/shop/web:oci` });
    failedWith(run, 'INVALID_INPUT', 'image', `${g.open.host}/shop/web:oci`, 'IMAGE_REF');
  });

  it('refuses a scan status it does not know', async () => {
    const run = await evidence({ image: ref('shop/web', 'oci'), scanStatus: 'ok' });
    failedWith(run, 'INVALID_INPUT', 'scanStatus', '"ok"', 'passed, warned, failed, unknown');
  });

  describe('local files', () => {
    // A registry nobody answers at: a task that asked it would fail UNREACHABLE, so a failure with
    // any other code shows the task refused before asking a registry anything.
    const nowhere = `127.0.0.1:9/shop/web@sha256:${'a'.repeat(64)}`;
    let job: AgentJob;
    let outside: string;
    beforeEach(() => {
      job = new AgentJob({ ...ado.agentJob(), hostEnv: g.hostEnv });
      outside = mkdtempSync(join(g.dir, 'outside-'));
    });
    afterEach(() => job.dispose());
    const run = (inputs: Record<string, string>) =>
      job.run('DigestEvidence', { inputs: { connectionType: 'anonymous', approver: 'a', attach: 'false', ...inputs } });

    it("refuses an outputPath outside the job's folders (.., absolute, through a folder or file link) before asking the registry, and writes nothing there", async () => {
      symlinkSync(outside, join(job.artifactStagingDirectory, 'shared'));
      writeFileSync(join(outside, 'old.json'), 'keep');
      symlinkSync(join(outside, 'old.json'), join(job.artifactStagingDirectory, 'old.json'));
      const cases: Array<[string, string]> = [
        ['../../../evidence.json', join(job.workFolder, '..', 'evidence.json')],
        [join(outside, 'evidence.json'), join(outside, 'evidence.json')],
        ['$(Build.ArtifactStagingDirectory)/shared/new/evidence.json', join(outside, 'new', 'evidence.json')],
        ['$(Build.ArtifactStagingDirectory)/old.json', join(outside, 'old.json')],
      ];
      for (const [outputPath, leadsTo] of cases) {
        const result = await run({ image: nowhere, outputPath });
        failedWith(
          result,
          'OUTSIDE_JOB_FOLDERS',
          `The input outputPath has the value "${outputPath.replace('$(Build.ArtifactStagingDirectory)', job.artifactStagingDirectory)}", which leads to ${leadsTo},`,
          `Pipeline.Workspace (${job.buildDirectory})`,
          `Agent.TempDirectory (${job.tempDirectory})`,
          '$(Build.ArtifactStagingDirectory)/evidence/release.json',
        );
        assert.equal(result.outputs.EVIDENCE_PATH, undefined);
      }
      assert.deepEqual(readdirSync(outside), ['old.json'], 'nothing was written or created outside');
      assert.ok(!existsSync(join(job.workFolder, '..', 'evidence.json')));
      assert.equal(readFileSync(join(outside, 'old.json'), 'utf8'), 'keep');
    });

    it('writes the evidence whole into new folders in the staging directory, over an older file, and through a link that stays inside', async () => {
      const target = join(job.artifactStagingDirectory, 'evidence', 'prod', 'release.json');
      const first = await run({
        image: ref('shop/web', 'oci'),
        outputPath: '$(Build.ArtifactStagingDirectory)/evidence/prod/release.json',
      });
      succeeded(first);
      assert.equal(first.outputs.EVIDENCE_PATH, target);
      assert.equal(sha256Hex(readFileSync(target)), first.outputs.EVIDENCE_DIGEST);
      const again = await run({
        image: ref('shop/web', 'v2s2'),
        outputPath: '$(Build.ArtifactStagingDirectory)/evidence/prod/release.json',
      });
      succeeded(again);
      assert.equal(sha256Hex(readFileSync(target)), again.outputs.EVIDENCE_DIGEST);
      assert.deepEqual(readdirSync(dirname(target)), ['release.json'], 'no temporary file is left');

      symlinkSync(target, join(job.sourcesDirectory, 'latest.json'));
      const linked = await run({ image: ref('shop/web', 'multi'), outputPath: 'latest.json' });
      succeeded(linked);
      assert.ok(lstatSync(join(job.sourcesDirectory, 'latest.json')).isSymbolicLink(), 'the link is kept');
      assert.equal(
        sha256Hex(readFileSync(target)),
        linked.outputs.EVIDENCE_DIGEST,
        "its target inside the job's folders is written",
      );

      const folder = await run({ image: nowhere, outputPath: '$(Build.ArtifactStagingDirectory)/evidence' });
      failedWith(
        folder,
        'FILE_ACCESS',
        `${join(job.artifactStagingDirectory, 'evidence')} is a folder; give the path of a file`,
      );
    });

    it('refuses a scanReport that is /dev/zero, a named pipe, a folder or over the limit without reading it, naming the input, the size and the limit', async () => {
      const fifo = join(job.sourcesDirectory, 'report.pipe');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const huge = join(job.sourcesDirectory, 'huge.json');
      writeFileSync(huge, '');
      truncateSync(huge, 256 * 1024 * 1024 + 1);
      const cases: Array<[string, string]> = [
        ['/dev/zero', 'it is a character device, not a regular file; only regular files are read.'],
        ['report.pipe', 'it is a named pipe, not a regular file'],
        ['reports', 'it is a directory, not a regular file'],
        [
          'huge.json',
          'the file is 256.0 MiB (268435457 bytes), over the 256 MiB limit for a scan report; it was not read.',
        ],
      ];
      mkdirSync(join(job.sourcesDirectory, 'reports'));
      for (const [scanReport, why] of cases) {
        const result = await run({ image: nowhere, scanReport, scanStatus: 'passed' });
        failedWith(
          result,
          'FILE_ACCESS',
          `The input scanReport has the value "${scanReport.startsWith('/') ? scanReport : join(job.sourcesDirectory, scanReport)}": ${why}`,
          "Give the path of the scanner's report file",
        );
      }
    });
  });
});
