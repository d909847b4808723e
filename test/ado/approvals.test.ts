import assert from 'node:assert/strict';
import { AzureDevOpsClient } from '../../src/ado/devops-client';
import { readStageApprovals } from '../../src/ado/stageapprovals';
import { approvalFromAzureDevOps } from '../../src/evidence/approval';
import { isDigestReleaseError } from '../../src/errors';
import type { AdoServer } from '../../lab/ado-server';
import { BUILD_ID, PROJECT_ID, PROJECT_NAME, startAdoServer } from '../../lab/ado-server';
import { runCertificates } from '../../lab/ground';

// Who approved the stage, read from a local server that answers like Azure DevOps.

const JOB_ID = '12f4b6d8-3a5c-5e7f-9b1d-2c4e6a8b0d13';
const PROD_APPROVAL = 'a4c2e6f8-0b1d-4e3f-9a5c-7e9b1d3f5a70';

type Json = Record<string, unknown>;

function records(server: AdoServer): Json[] {
  const list = server.timeline.records;
  if (!Array.isArray(list)) throw new Error('timeline has no records');
  return list.filter((r): r is Json => typeof r === 'object' && r !== null);
}

describe('ado: the approvers of the current stage', () => {
  let server: AdoServer;
  const client = (token = server.token, project = PROJECT_ID) =>
    new AzureDevOpsClient({ collectionUri: server.collectionUri, project, token, maxRetryAfterSeconds: 2 });
  const run = { buildId: BUILD_ID, jobId: JOB_ID, stageName: 'DeployProd' };

  before(async () => {
    server = await startAdoServer(runCertificates());
  });
  after(() => server.close());
  const original = { timeline: {} as Json, approvals: [] as Json[] };
  beforeEach(() => {
    original.timeline = structuredClone(server.timeline);
    original.approvals = structuredClone(server.approvals);
    server.mode = 'normal';
    server.requests.length = 0;
  });
  afterEach(() => {
    server.timeline = original.timeline;
    server.approvals = original.approvals;
  });

  it('climbs from the job to its stage and reads the approval with its steps', async () => {
    const result = await readStageApprovals(client(), run);
    assert.equal(result.stage, 'DeployProd');
    assert.equal(result.status, 'approved');
    assert.deepEqual(
      result.approvals.map((a) => a.id),
      [PROD_APPROVAL],
    );
    const approvalsCall = server.requests.find((r) => r.path.endsWith('/_apis/pipelines/approvals'));
    assert.ok(approvalsCall, 'the approvals API was called');
    assert.equal(approvalsCall.query.get('$expand'), 'steps');
    assert.equal(approvalsCall.query.get('approvalIds'), PROD_APPROVAL, 'the staging approval is not asked for');
    assert.equal(approvalsCall.query.get('api-version'), '7.1');
    assert.equal(approvalsCall.authorization, `Bearer ${server.token}`);
  });

  it('records who approved, when, and their comment', async () => {
    const facts = await approvalFromAzureDevOps(client(), run);
    assert.equal(facts.status, 'approved');
    assert.deepEqual(facts.approvers, [
      {
        name: 'Dana Reviewer',
        uniqueName: 'dana@contoso.com',
        id: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        approvedAt: '2025-03-12T10:41:07.1234567Z',
        comment: 'LGTM, digest sha256:9f86d081884c verified',
        approvalId: PROD_APPROVAL,
      },
    ]);
  });

  it('works with the project name, which needs URL encoding', async () => {
    const result = await readStageApprovals(client(server.token, PROJECT_NAME), run);
    assert.equal(result.status, 'approved');
    assert.ok(server.requests.every((r) => r.path.includes(`/${PROJECT_NAME}/`)));
  });

  it('finds the stage by System.StageName when the job is not in the timeline', async () => {
    const result = await readStageApprovals(client(), {
      buildId: BUILD_ID,
      jobId: '00000000-0000-4000-8000-00000000dead',
      stageName: 'DeployProd',
    });
    assert.deepEqual(
      result.approvals.map((a) => a.id),
      [PROD_APPROVAL],
    );
  });

  it('says no approval was required when the stage has no approval checkpoint', async () => {
    server.timeline = { ...server.timeline, records: records(server).filter((r) => r.id !== PROD_APPROVAL) };
    const facts = await approvalFromAzureDevOps(client(), run);
    assert.equal(facts.status, 'notRequired');
    assert.deepEqual(facts.approvers, []);
    assert.ok(
      !server.requests.some((r) => r.path.endsWith('/approvals')),
      'no approvals call without approval records',
    );
  });

  it('records every approver when two were required', async () => {
    const prod = server.approvals.find((a) => a.id === PROD_APPROVAL)!;
    const steps = Array.isArray(prod.steps)
      ? prod.steps.filter((step): step is Json => typeof step === 'object' && step !== null)
      : [];
    const second = structuredClone(steps[0]!);
    second.actualApprover = {
      displayName: 'Eli Second',
      uniqueName: 'eli@contoso.com',
      id: '11111111-2222-4333-8444-555555555555',
    };
    second.lastModifiedOn = '2025-03-12T10:45:00Z';
    server.approvals = server.approvals.map((a) =>
      a.id === PROD_APPROVAL ? { ...a, minRequiredApprovers: 2, steps: [...steps, second] } : a,
    );
    const facts = await approvalFromAzureDevOps(client(), run);
    assert.deepEqual(
      facts.approvers.map((a) => a.name),
      ['Dana Reviewer', 'Eli Second'],
    );
  });

  it('does not attribute an approval of another run', async () => {
    server.approvals = server.approvals.map((a) =>
      a.id === PROD_APPROVAL ? { ...a, pipeline: { owner: { id: 9999, name: 'x' } } } : a,
    );
    const facts = await approvalFromAzureDevOps(client(), run);
    assert.equal(facts.status, 'unavailable');
    assert.match(facts.reason!, /belongs to run 9999/);
  });

  it('waits out one 429 with Retry-After', async () => {
    server.mode = 'throttleOnce';
    const result = await readStageApprovals(client(), run);
    assert.equal(result.status, 'approved');
  });

  const failures: [string, (s: AdoServer) => void, RegExp][] = [
    ['a sign-in page (203 HTML) for a token it does not accept', (s) => (s.mode = 'signInPage'), /sign-in page/],
    ['a redirect to sign-in', (s) => (s.mode = 'redirect'), /redirected .* sign-in page/],
    ['403 with TF400813', (s) => (s.mode = 'forbidden'), /refused .*\(403\): TF400813.*job authorization scope/],
  ];
  for (const [what, arrange, expected] of failures) {
    it(`records why the approver is unavailable on ${what}, without the token`, async () => {
      arrange(server);
      const facts = await approvalFromAzureDevOps(client(), run);
      assert.equal(facts.status, 'unavailable');
      assert.match(facts.reason!, expected);
      assert.ok(!facts.reason!.includes(server.token));
    });
  }

  it('treats a wrong token as refused (the service answers with its sign-in page)', async () => {
    await assert.rejects(
      readStageApprovals(client('wrong-token'), run),
      (err) => isDigestReleaseError(err, 'AZURE_DEVOPS_ERROR') && /sign-in page/.test(err.message),
    );
  });

  it('names the build when the run is unknown', async () => {
    await assert.rejects(
      readStageApprovals(client(), { ...run, buildId: 99 }),
      /404: The requested build 99 could not be found/,
    );
  });
});
