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
import { RECORD_TAG, readRecord } from '../../src/retain/record';
import type { AcrGround } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import { secretConnection } from '../../lab/azurerm';
import { daysAgoEnv } from '../../lab/clock';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { OciLayout, inspectRawAsync, pushAsync, sha256Hex } from '../../lab/images';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { TaskRun } from '../../lab/agent';
import { runTask } from '../../lab/agent';
import { field } from '../../lab/field';

// DigestRetain@1 protect on Azure Container Registry, run from the packaged .vsix with an Azure
// Resource Manager service connection through the ACR front: releases recorded by DigestEvidence@1
// to prod and staging, one of them locked before by someone else (DigestLock@1), one whose tag
// moved on (found through ACR's manifest listing only), one with evidence that cannot be read.
// Runs for one environment at a time, as templates/retention.yml makes them, release only what no
// environment keeps, and never a lock this task did not set.

describe('DigestRetain@1 protect on ACR (packaged task, azureRM, ACR front)', function () {
  this.timeout(300_000);
  let g: TestGround;
  let acr: AcrGround;
  let admin: RegistryClient;
  const repo = 'shop/api';
  const r: Record<string, Digest> = {};
  /** The evidence manifest recorded for a digest in an environment. */
  const evidenceOf: Record<string, Digest> = {};
  let runs = 0;
  let layout: OciLayout;

  const azureRm = { connectionType: 'azureRM', azureSubscription: 'arm' };
  const connections = (): Record<string, ReturnType<typeof secretConnection>> => ({ arm: secretConnection(acr) });
  const pushRelease = async (name: string, tag = name): Promise<void> => {
    await pushAsync(layout, name, `${acr.front.host}/${repo}:${tag}`, acr.access);
    r[name] = parseDigest(sha256Hex(await inspectRawAsync(`${acr.front.host}/${repo}:${tag}`, acr.access)));
  };
  const evidence = async (name: string, environment: string, daysAgo = 0, rollbackDigest?: string): Promise<void> => {
    const run = await runTask('DigestEvidence', {
      inputs: {
        ...azureRm,
        image: `${acr.front.host}/${repo}@${r[name]}`,
        environment,
        scanStatus: 'passed',
        approver: 'Release Manager',
        ...(rollbackDigest ? { rollbackDigest } : {}),
      },
      connections: connections(),
      hostEnv: { ...g.hostEnv, ...(daysAgo > 0 ? daysAgoEnv(join(g.dir, 'retain-acr-clock'), daysAgo) : {}) },
    });
    succeeded(run);
    const attached = /Attached the evidence to .* as [^@]+@(sha256:[a-f0-9]{64})\./.exec(run.stdout)?.[1];
    assert.ok(attached, 'the evidence was attached');
    evidenceOf[`${name}/${environment}`] = parseDigest(attached);
  };
  const retain = (inputs: Record<string, string>): Promise<TaskRun> =>
    runTask('DigestRetain', {
      inputs: {
        ...azureRm,
        repository: `${acr.front.host}/${repo}`,
        action: 'protect',
        keepDays: '0',
        outputPath: `$(Build.ArtifactStagingDirectory)/retain/${++runs}.json`,
        ...inputs,
      },
      connections: connections(),
      // One agent home, kept after each run, so the keep list in the staging directory can be read.
      home: join(g.dir, 'agent-retain-acr'),
      hostEnv: g.hostEnv,
    });
  const attributes = (digest: Digest): { writeEnabled: boolean; deleteEnabled: boolean } => {
    const a = acr.front.manifestAttributes(repo, digest);
    return { writeEnabled: a?.writeEnabled ?? true, deleteEnabled: a?.deleteEnabled ?? true };
  };
  const deletable = (digest: Digest): boolean => attributes(digest).deleteEnabled && attributes(digest).writeEnabled;
  const claims = async (): Promise<Record<string, readonly string[]>> => {
    const { record } = await readRecord(admin, repo);
    return Object.fromEntries(record.manifests.map((m) => [m.digest, [...m.claims].sort()]));
  };
  const keepList = (run: TaskRun): unknown => JSON.parse(readFileSync(run.outputs.KEEP_LIST_PATH!, 'utf8'));

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-retain');
    const [user, password] = acr.access.creds.split(/:(.*)/) as [string, string];
    admin = new RegistryClient(acr.front.host, {
      credential: { kind: 'basic', username: user, password, source: 'the ACR admin user' },
    });
    layout = new OciLayout(join(g.dir, 'retain-acr-layout'));
    for (const name of ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']) layout.image(name, 'amd64', `shop api ${name}\n`);
    for (const name of ['r0', 'r1', 'r2', 'r3']) await pushRelease(name);

    // prod: r1 (100 days ago) -> r2 (50) -> r3 (today); staging: r3.
    await evidence('r1', 'prod', 100);
    await evidence('r2', 'prod', 50, 'auto');
    await evidence('r3', 'prod', 0, 'auto');
    await evidence('r3', 'staging');
    // Someone else locks r2 (tag and manifest): that lock is theirs.
    succeeded(
      await runTask('DigestLock', {
        inputs: { ...azureRm, image: `${acr.front.host}/${repo}:r2`, expectedDigest: r.r2! },
        connections: connections(),
        hostEnv: g.hostEnv,
      }),
    );
    // r0 carries something that claims to be our evidence and is not.
    const head = (await admin.headManifest(repo, r.r0!))!;
    const statement = Buffer.from(
      JSON.stringify({
        _type: STATEMENT_TYPE,
        predicateType: PREDICATE_TYPE,
        subject: [{ name: repo, digest: { sha256: r.r0!.slice(7) } }],
        predicate: {},
      }),
    );
    const artifact = {
      artifactType: IN_TOTO_MEDIA_TYPE,
      layer: { mediaType: IN_TOTO_MEDIA_TYPE, bytes: statement },
      subject: { mediaType: head.mediaType, digest: r.r0!, size: head.size },
    };
    await uploadArtifactBlobs(admin, repo, artifact);
    await pushReferrer(admin, repo, artifactManifest(artifact), OCI_MANIFEST, r.r0!);
  });
  after(() => acr.close());

  it('protects what each environment keeps, never touches a lock made by someone else, and releases only what no environment keeps any more', async () => {
    // 1. prod keeps r3 (current) and r2 (its rollback target); r0 is kept because its evidence cannot be read.
    const prod = await retain({ environments: 'prod', keepReleases: '1' });
    succeeded(prod);
    assert.equal(prod.outputs.KEEP_COUNT, '3');
    assert.equal(prod.outputs.PROTECTED_COUNT, '5', 'r3, r2, r0 and the prod evidence of r3 and r2');
    assert.equal(prod.outputs.RELEASED_COUNT, '0');
    for (const digest of [r.r3!, r.r0!, evidenceOf['r3/prod']!, evidenceOf['r2/prod']!])
      assert.deepEqual(attributes(digest), { writeEnabled: true, deleteEnabled: false });
    assert.deepEqual(attributes(r.r2!), { writeEnabled: false, deleteEnabled: false }, 'their lock, as it was');
    assert.ok(deletable(r.r1!), 'r1 is not kept: a clean-up may take it');
    assert.ok(
      prod.warnings.some((w) => w.includes(r.r0!) && w.includes('malformed')),
      prod.warnings.join('\n'),
    );
    assert.deepEqual(
      await claims(),
      {
        [r.r3!]: ['prod'],
        [r.r0!]: ['(unreadable evidence)'],
        [evidenceOf['r3/prod']!]: ['prod'],
        [evidenceOf['r2/prod']!]: ['prod'],
      },
      'the record names what this task protected, not r2',
    );
    const list = keepList(prod);
    assert.deepEqual(field(list, 'protection', 'alreadyProtected'), [{ digest: r.r2!, holder: 'someoneElse' }]);
    assert.equal(field(list, 'discovery', 'source'), 'acrListing');
    assert.ok(prod.summaries[0]!.includes('1 locked by someone else (never undone here)'), prod.summaries[0]);
    assert.ok(!visibleOutput(prod).includes(acr.secretApp.clientSecret));

    // The record's tag cannot be deleted by a clean-up; ACR refuses to delete what is protected, and deletes the rest.
    assert.equal(acr.front.tagAttributes(repo, RECORD_TAG)?.deleteEnabled, false);
    const del = async (digest: Digest): Promise<number> => {
      const response = await admin.request({
        method: 'DELETE',
        path: `/v2/${repo}/manifests/${digest}`,
        scope: `repository:${repo}:delete`,
      });
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await del(r.r3!), 405);
    assert.equal(await del(evidenceOf['r2/prod']!), 405);
    const untag = await admin.request({
      method: 'DELETE',
      path: `/acr/v1/${repo}/_tags/${RECORD_TAG}?api-version=2021-07-01`,
      scope: `repository:${repo}:delete`,
    });
    await untag.body?.cancel();
    assert.equal(untag.status, 405, 'the record tag cannot be deleted');

    // 2. staging keeps r3 too: its claim joins prod's.
    succeeded(await retain({ environments: 'staging', keepReleases: '1' }));
    assert.deepEqual((await claims())[r.r3!], ['prod', 'staging']);

    // 3. Two more releases to prod; r5 is pushed over r4's tag, so r4 is found only in ACR's listing of untagged manifests.
    await pushRelease('r4', 'next');
    await evidence('r4', 'prod', 0, 'auto');
    await pushRelease('r5', 'next');
    await evidence('r5', 'prod', 0, 'auto');
    const later = await retain({ environments: 'prod', keepReleases: '1' });
    succeeded(later);
    assert.deepEqual(
      (field(keepList(later), 'keep') as unknown[])
        .filter((e) => field(e, 'environment') === 'prod')
        .map((e) => [field(e, 'digest'), field(e, 'reasons')]),
      [
        [r.r5, ['current']],
        [r.r4, ['rollbackTarget']],
      ],
    );
    assert.equal(later.outputs.RELEASED_COUNT, '2', 'the prod evidence of r3 and of r2');
    assert.ok(deletable(evidenceOf['r3/prod']!) && deletable(evidenceOf['r2/prod']!));
    assert.deepEqual(attributes(r.r3!), { writeEnabled: true, deleteEnabled: false }, 'staging still keeps r3');
    assert.deepEqual(
      attributes(r.r2!),
      { writeEnabled: false, deleteEnabled: false },
      "r2 left prod's window, and its lock is still theirs",
    );
    assert.deepEqual(attributes(r.r4!), { writeEnabled: true, deleteEnabled: false }, 'the untagged r4 is protected');
    assert.deepEqual((await claims())[r.r3!], ['staging']);
    assert.equal(r.r2! in (await claims()), false);

    // 4. staging moves on to r5, without keeping rollback targets: r3 is no one's any more, and released.
    await evidence('r5', 'staging', 0, 'auto');
    const staging = await retain({ environments: 'staging', keepReleases: '1', keepRollbackTargets: 'false' });
    succeeded(staging);
    assert.equal(staging.outputs.RELEASED_COUNT, '2', 'r3 and its staging evidence');
    assert.ok(deletable(r.r3!) && deletable(evidenceOf['r3/staging']!));
    assert.deepEqual((await claims())[r.r5!], ['prod', 'staging']);
    assert.deepEqual(attributes(r.r2!), { writeEnabled: false, deleteEnabled: false }, 'never undone');
    assert.match(staging.message, /; \d+ manifests delete-protected and read back \(\d+ by this run\), 2 released\.$/);
  });

  it('fails when a protection does not read back, naming the manifest, and records what did take', async () => {
    await pushRelease('r6');
    await evidence('r6', 'prod', 0, 'auto');
    const stop = acr.front.revertPatches(repo, r.r6!);
    try {
      const run = await retain({ environments: 'prod', keepReleases: '1' });
      failedWith(
        run,
        'LOCK_NOT_APPLIED',
        r.r6!,
        'reads back deleteEnabled=true',
        'Do not run a clean-up of this repository until protect succeeds',
      );
      assert.ok(deletable(r.r6!));
      assert.deepEqual(
        attributes(evidenceOf['r6/prod']!),
        { writeEnabled: true, deleteEnabled: false },
        'its evidence was protected',
      );
      assert.deepEqual(
        (await claims())[evidenceOf['r6/prod']!],
        ['prod'],
        'and recorded, so a later run can release it',
      );
    } finally {
      stop();
    }
    const again = await retain({ environments: 'prod', keepReleases: '1' });
    succeeded(again);
    assert.deepEqual(attributes(r.r6!), { writeEnabled: true, deleteEnabled: false });
  });

  it('refuses a record it cannot read under its tag, changing nothing', async () => {
    const before = acr.front.manifestAttributes(repo, r.r5!);
    // Someone pushes an image over the record's tag (allowed: the tag is only delete-locked).
    await pushAsync(layout, 'r1', `${acr.front.host}/${repo}:${RECORD_TAG}`, acr.access);
    const run = await retain({ environments: 'prod', keepReleases: '1' });
    failedWith(run, 'RECORD_INVALID', `${repo}:${RECORD_TAG}`, "not DigestRetain's record", 'nothing was changed');
    assert.deepEqual(acr.front.manifestAttributes(repo, r.r5!), before);
  });
});
