import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Of } from '../../../src/reference/digest';
import { evidenceTask } from '../../../src/tasks/DigestEvidence/evidence';
import type { TestGround } from '../../../lab/ground';
import { testGround } from '../../../lab/ground';
import { inspectRaw, push, sha256Hex } from '../../../lab/images';
import { failedWith, itRefuses, runOperation, succeeded } from '../fake-context';

// DigestEvidence@1's decisions over a fake TaskContext, against the test ground's open registry
// (not an ACR, no referrers API): the inputs it refuses, where the evidence may be written, what
// record reports and publishes, and what verify accepts. Approvals from Azure DevOps, the rollback
// search and the locks verify requires on ACR, as the agent runs the packaged task:
// test/packaged/evidence.test.ts and evidence-acr.test.ts.

const REPOSITORY = 'fast/evidence';
const FIXED = new Date('2026-03-01T10:00:00Z');

describe('DigestEvidence@1 decisions (fake TaskContext)', function () {
  this.timeout(60_000);
  let g: TestGround;
  let image: string;
  let work: string;
  before(async () => {
    g = await testGround();
    push(g.layout, 'amd64', `${g.open.host}/${REPOSITORY}:1.0`, g.openAccess);
    image = `${g.open.host}/${REPOSITORY}@${sha256Hex(inspectRaw(`${g.open.host}/${REPOSITORY}:1.0`, g.openAccess))}`;
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'digest-evidence-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** A step whose job folders are the scratch folder (the pipeline workspace and the agent's temp folder). */
  const evidence = (inputs: Record<string, string>, variables: Record<string, string> = {}) =>
    runOperation((context) => evidenceTask(context, () => FIXED), {
      task: 'DigestEvidence',
      inputs: { connectionType: 'anonymous', ...inputs },
      variables: {
        'Pipeline.Workspace': work,
        'System.DefaultWorkingDirectory': work,
        'Agent.TempDirectory': join(work, '_temp'),
        ...variables,
      },
    });

  describe('refuses inputs before asking any registry', () => {
    const at = `nowhere.invalid/app@sha256:${'a'.repeat(64)}`;
    itRefuses(evidence, [
      [
        'an image without a digest',
        { image: 'nowhere.invalid/app:1' },
        /^The input image has the value "nowhere\.invalid\/app:1": it names no digest\. .*\$\(capture\.IMAGE_REF\)/,
      ],
      [
        'a scanStatus it does not know',
        { image: at, scanStatus: 'green' },
        /^The input scanStatus has the value "green": use one of /,
      ],
      [
        'rollbackDigest auto with no environment to look in',
        { image: at, rollbackDigest: 'auto' },
        /^The input rollbackDigest has the value "auto": auto finds the digest of the previous release to the same environment, so set the input environment too/,
      ],
      [
        'a rollbackDigest that is not a digest',
        { image: at, rollbackDigest: 'last' },
        /^The input rollbackDigest has the value "last": .* Use sha256:<64 hex>, or auto\.$/,
      ],
      [
        'an artifact name with a slash',
        { image: at, publishArtifact: 'release/evidence' },
        /^The input publishArtifact has the value "release\/evidence": an artifact name may not hold/,
      ],
      [
        'a mode it does not know',
        { image: at, mode: 'check' },
        /^The input mode has the value "check": use one of record, verify\.$/,
      ],
    ]);

    it('an outputPath outside the job folders', async () => {
      const run = await evidence({ image: at, outputPath: '/etc/evidence.json' });
      failedWith(
        run,
        'OUTSIDE_JOB_FOLDERS',
        /^The input outputPath has the value "\/etc\/evidence\.json", which leads to \/etc\/evidence\.json, outside the job's folders .*DigestEvidence writes only there\./,
      );
    });
  });

  it('record: writes the evidence, attaches it, publishes it in a build, and reports it in outputs, log and summary', async () => {
    const run = await evidence(
      { image, environment: 'prod', scanStatus: 'passed', approver: 'Jane Doe' },
      { 'System.HostType': 'build' },
    );
    const message = succeeded(run);
    const path = run.context.outputs.EVIDENCE_PATH!;
    assert.equal(
      path,
      join(work, '_temp', 'digest-evidence', `evidence-${image.split('@sha256:')[1]!.slice(0, 12)}-prod.json`),
    );
    assert.equal(run.context.outputs.EVIDENCE_DIGEST, sha256Of(readFileSync(path)));
    assert.match(
      message,
      new RegExp(
        `^Evidence ${run.context.outputs.EVIDENCE_DIGEST} recorded for ${image.replace(/\./g, '\\.')}: scan passed, approval given, lock `,
      ),
    );
    assert.deepEqual(run.context.artifacts, [{ name: 'release-evidence', folder: 'release-evidence', path }]);
    assert.ok(
      run.context.log.some((line) =>
        line.startsWith(`Attached the evidence to ${image} as ${g.open.host}/${REPOSITORY}@sha256:`),
      ),
      run.context.log.join('\n'),
    );
    const summary = run.context.summary('DigestEvidence');
    assert.match(summary, /^### Release evidence\n/);
    assert.ok(summary.includes('| Environment | prod |'));
    assert.ok(summary.includes('| Scan status | **passed** |'));
    assert.ok(summary.includes('| Approver | Jane Doe |'));
    assert.match(summary, /\| Attached to the image \| `[^`]+@sha256:[0-9a-f]{64}` \|/);
    const statement = JSON.parse(readFileSync(path, 'utf8')) as {
      predicate: { writtenAt: string; environment: string };
    };
    assert.equal(statement.predicate.writtenAt, FIXED.toISOString());
  });

  it('record outside a build run publishes no artifact and says why; an approver it cannot ask Azure DevOps for is recorded as unknown, with a warning', async () => {
    const run = await evidence({ image, attach: 'false' }, { 'System.HostType': 'release' });
    assert.match(succeeded(run), /approval unavailable/);
    assert.deepEqual(run.context.artifacts, []);
    assert.ok(
      run.context.log.includes(
        'Not published as artifact release-evidence: artifacts can be published only in build (YAML) runs, and this is a release run.',
      ),
      run.context.log.join('\n'),
    );
    assert.ok(
      run.context.warnings.some((w) =>
        /^The approver is recorded as unknown: Not running in an Azure Pipelines run/.test(w),
      ),
      run.context.warnings.join('\n'),
    );
    assert.ok(run.context.summary('DigestEvidence').includes('| Attached to the image | no |'));
    assert.ok(existsSync(run.context.outputs.EVIDENCE_PATH!));
  });

  it('verify: hands back the evidence recorded for the environment, with a summary; refuses a failed scan and another environment', async () => {
    const recorded = await evidence({ image, environment: 'staging', scanStatus: 'passed', approver: 'Jane Doe' });
    succeeded(recorded);
    const run = await evidence({ image, mode: 'verify', environment: 'staging' });
    assert.match(
      succeeded(run),
      new RegExp(
        `^${image.replace(/\./g, '\\.')} carries evidence ${recorded.context.outputs.EVIDENCE_DIGEST} \\(scan passed, environment staging\\)\\.$`,
      ),
    );
    assert.equal(run.context.outputs.EVIDENCE_DIGEST, recorded.context.outputs.EVIDENCE_DIGEST);
    const summary = run.context.summary('DigestEvidence');
    assert.match(summary, /^### Release evidence verified\n/);
    assert.ok(summary.includes('| Environment | staging |'));

    const other = await evidence({ image, mode: 'verify', environment: 'qa' });
    failedWith(other, 'EVIDENCE_NOT_FOUND', /none for environment qa/);
    succeeded(await evidence({ image, environment: 'canary', scanStatus: 'failed', approver: 'Jane Doe' }));
    const failedScan = await evidence({ image, mode: 'verify', environment: 'canary' });
    failedWith(failedScan, 'EVIDENCE_REJECTED', /scanStatus failed/);
    assert.deepEqual(failedScan.context.outputs, {});
  });
});
