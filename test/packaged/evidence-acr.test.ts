import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCredential } from '../../src/connection/credentials';
import { findEvidence } from '../../src/evidence/find';
import { readLockFacts } from '../../src/acr/locks';
import { IN_TOTO_MEDIA_TYPE } from '../../src/evidence/predicate';
import type { Digest } from '../../src/reference/digest';
import { parseDigest, sha256Of } from '../../src/reference/digest';
import { uploadBlob } from '../../src/registry/blob-upload';
import { RegistryClient } from '../../src/registry/client';
import { pullScope } from '../../src/registry/sign-in';
import { listReferrers, pushReferrer } from '../../src/registry/referrers';
import { listTags } from '../../src/registry/tag-list';
import { OCI_MANIFEST } from '../../src/registry/manifest-parse';
import type { SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import { endpointReader, secretConnection } from '../../lab/azurerm';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { TaskRun } from '../../lab/agent';
import { runTask } from '../../lab/agent';
import { field } from '../../lab/field';

// DigestEvidence@1 on Azure Container Registry, run from the packaged .vsix with an Azure Resource
// Manager service connection, through the ACR front: the evidence is attached and found through the
// referrers API (the front answers OCI-Subject, so no client keeps the tag-schema fallback), the
// lock state is read live from /acr/v1, and verify accepts a digest only once its manifest is locked.

describe('DigestEvidence@1 on ACR (packaged task, azureRM, ACR front with the referrers API)', function () {
  this.timeout(240_000);
  let g: TestGround;
  let acr: SuiteAcr;
  let client: RegistryClient;
  const repo = 'shop/api';
  let v1: Digest;
  let v2: Digest;
  let runs = 0;

  before(async () => {
    g = await testGround();
    acr = await acrGroundFor(g, 'acr-evidence', { images: { [`${repo}:1.0`]: 'amd64', [`${repo}:2.0`]: 'arm64' } });
    v1 = parseDigest(acr.digests[`${repo}:1.0`]!);
    v2 = parseDigest(acr.digests[`${repo}:2.0`]!);
    const connection = { connectionType: 'azureRM' as const, azureSubscription: 'arm' };
    client = new RegistryClient(acr.front.host, {
      credential: resolveCredential(acr.front.host, connection, endpointReader({ arm: secretConnection(acr) }), {})
        .credential,
    });
  });
  after(() => acr.close());

  const azureRm = { connectionType: 'azureRM', azureSubscription: 'arm' };
  const evidence = (inputs: Record<string, string>): Promise<TaskRun> =>
    runTask('DigestEvidence', {
      // The agent keeps its work folder between jobs: the evidence can be read after the run.
      home: join(g.dir, 'agent-evidence-acr'),
      inputs: {
        ...azureRm,
        outputPath: `$(Build.ArtifactStagingDirectory)/evidence/run-${++runs}.json`,
        approver: 'Release Manager',
        ...inputs,
      },
      connections: { arm: secretConnection(acr) },
      hostEnv: g.hostEnv,
    });
  const lock = (image: string, expectedDigest: string): Promise<TaskRun> =>
    runTask('DigestLock', {
      inputs: { ...azureRm, image, expectedDigest },
      connections: { arm: secretConnection(acr) },
      hostEnv: g.hostEnv,
    });
  const ref = (digest: string, tag?: string) => `${acr.front.host}/${repo}${tag ? `:${tag}` : ''}@${digest}`;
  const readEvidence = (run: TaskRun): unknown => JSON.parse(readFileSync(run.outputs.EVIDENCE_PATH!, 'utf8'));

  it('records through the referrers API, verify refuses the unlocked manifest, DigestLock@1 locks it, verify passes; rollback auto finds the earlier release', async () => {
    const counts = { ...acr.front.referrerCounts };

    // 1. Evidence for 1.0 while it is not locked: the lock state read live says so.
    const first = await evidence({ image: ref(v1, '1.0'), environment: 'prod', scanStatus: 'passed' });
    succeeded(first);
    assert.deepEqual(field(readEvidence(first), 'predicate', 'lock'), {
      state: 'unlocked',
      reason: null,
      writeEnabled: true,
      deleteEnabled: true,
    });
    assert.equal(
      acr.front.referrerCounts.subjectPuts,
      counts.subjectPuts + 1,
      'the evidence manifest was indexed by the registry (OCI-Subject)',
    );
    assert.ok(!visibleOutput(first).includes(acr.secretApp.clientSecret), 'the client secret is never shown');

    // 2. Verify on ACR requires the manifest to be locked.
    const refused = await evidence({ mode: 'verify', image: ref(v1), environment: 'prod' });
    failedWith(refused, 'EVIDENCE_REJECTED', v1, 'is not locked', 'writeEnabled=true', 'DigestLock@1');

    // 3. Lock it with the packaged DigestLock@1; verify now passes and hands back the evidence.
    succeeded(await lock(`${acr.front.host}/${repo}:1.0`, v1));
    assert.equal(acr.front.manifestAttributes(repo, v1)?.writeEnabled, false);
    const verified = await evidence({ mode: 'verify', image: ref(v1), environment: 'prod' });
    succeeded(verified);
    assert.equal(verified.outputs.EVIDENCE_DIGEST, first.outputs.EVIDENCE_DIGEST);
    assert.match(verified.message, /manifest locked/);
    assert.ok(verified.summaries[0]!.includes('locked (writeEnabled=false, deleteEnabled=false)'));

    // 4. 2.0 locked first, then released to prod: the evidence says locked, and rolls back to 1.0.
    succeeded(await lock(`${acr.front.host}/${repo}:2.0`, v2));
    const second = await evidence({
      image: ref(v2, '2.0'),
      environment: 'prod',
      scanStatus: 'passed',
      rollbackDigest: 'auto',
    });
    succeeded(second);
    const doc = readEvidence(second);
    assert.deepEqual(field(doc, 'predicate', 'lock'), {
      state: 'locked',
      reason: null,
      writeEnabled: false,
      deleteEnabled: false,
    });
    assert.equal(field(doc, 'predicate', 'rollback', 'digest'), v1);
    assert.equal(field(doc, 'predicate', 'rollback', 'source'), 'auto');
    assert.ok(second.summaries[0]!.includes('locked (writeEnabled=false, deleteEnabled=false)'));
    succeeded(await evidence({ mode: 'verify', image: ref(v2), environment: 'prod' }));

    // 5. All of it went through the referrers API: no client kept a sha256-<hex> index, the tag list
    // ACR shows has none, and the API was asked.
    assert.equal(
      acr.front.referrerCounts.tagSchemaPuts,
      counts.tagSchemaPuts,
      'no client wrote the tag-schema fallback',
    );
    assert.equal(acr.front.referrerCounts.subjectPuts, counts.subjectPuts + 2);
    assert.ok(acr.front.referrerCounts.lists > counts.lists);
    assert.deepEqual((await listTags(client, repo)).sort(), ['1.0', '2.0']);
    const { found, problems } = await findEvidence(client, repo, v1);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      found.map((f) => f.evidence.digest),
      [first.outputs.EVIDENCE_DIGEST],
    );
  });

  it('the front serves the referrers API as ACR does: descriptors with artifactType and annotations, the artifactType filter, OCI-Subject, deletions', async () => {
    succeeded(await evidence({ image: ref(v2), environment: 'staging', scanStatus: 'warned' }));
    // A referrer of another artifact type, pushed through the front as any OCI 1.1 client would.
    const empty = new Uint8Array(Buffer.from('{}'));
    const signature = new Uint8Array(Buffer.from('{"signed":"by a test"}'));
    await uploadBlob(client, repo, sha256Of(empty), empty.byteLength, () => new Uint8Array(empty));
    await uploadBlob(client, repo, sha256Of(signature), signature.byteLength, () => new Uint8Array(signature));
    const head = await client.headManifest(repo, v2);
    const signatureManifest = new Uint8Array(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.signature',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Of(empty), size: empty.byteLength },
          layers: [
            { mediaType: 'application/vnd.example.signature', digest: sha256Of(signature), size: signature.byteLength },
          ],
          subject: { mediaType: head!.mediaType, digest: v2, size: head!.size },
          annotations: { 'org.example.signer': 'test' },
        }),
      ),
    );
    const tagSchemaPuts = acr.front.referrerCounts.tagSchemaPuts;
    const signatureDigest = await pushReferrer(client, repo, signatureManifest, OCI_MANIFEST, v2);
    assert.equal(
      acr.front.referrerCounts.tagSchemaPuts,
      tagSchemaPuts,
      'OCI-Subject answered: the client kept no index',
    );

    const all = await listReferrers(client, repo, v2);
    assert.deepEqual(
      new Set(all.map((d) => d.artifactType)),
      new Set([IN_TOTO_MEDIA_TYPE, 'application/vnd.example.signature']),
    );
    const signed = all.find((d) => d.digest === signatureDigest);
    assert.deepEqual(signed?.annotations, { 'org.example.signer': 'test' });
    assert.equal(signed?.size, signatureManifest.byteLength);
    const staging = all.find((d) => d.annotations?.['dev.digest-release.evidence.environment'] === 'staging');
    assert.equal(staging?.annotations?.['dev.digest-release.evidence.scan-status'], 'warned');

    const filtered = await client.request({
      method: 'GET',
      path: `/v2/${repo}/referrers/${v2}?artifactType=${encodeURIComponent(IN_TOTO_MEDIA_TYPE)}`,
      scope: pullScope(repo),
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(filtered.status, 200);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.match(filtered.headers.get('content-type') ?? '', /^application\/vnd\.oci\.image\.index\.v1\+json/);
    const index: unknown = await filtered.json();
    const manifests = field(index, 'manifests');
    assert.ok(
      Array.isArray(manifests) && manifests.length === 2,
      'the two evidence manifests of 2.0 (prod and staging), not the signature',
    );
    for (const m of manifests) assert.equal(field(m, 'artifactType'), IN_TOTO_MEDIA_TYPE);

    const none = await listReferrers(client, repo, parseDigest(`sha256:${'0'.repeat(64)}`));
    assert.deepEqual(none, [], 'a digest without referrers: 200 and an empty index');
    const malformed = await client.request({
      method: 'GET',
      path: `/v2/${repo}/referrers/sha256:nothex`,
      scope: pullScope(repo),
    });
    assert.equal(malformed.status, 400);
    await malformed.body?.cancel();

    const deleted = await client.request({
      method: 'DELETE',
      path: `/v2/${repo}/manifests/${signatureDigest}`,
      scope: `repository:${repo}:delete`,
    });
    assert.equal(deleted.status, 202);
    await deleted.body?.cancel();
    assert.ok(
      !(await listReferrers(client, repo, v2)).some((d) => d.digest === signatureDigest),
      'a deleted referrer is no longer listed',
    );
  });

  it('refuses azureRM without a service connection, naming the input', async () => {
    const run = await runTask('DigestEvidence', {
      inputs: { image: ref(v1), connectionType: 'azureRM' },
      hostEnv: g.hostEnv,
    });
    failedWith(run, 'INVALID_INPUT', 'connectionType is azureRM but azureSubscription is empty');
  });

  it('reads the lock state through a client that has seen no challenge yet', async () => {
    // A fresh client in this process, as the task's is: the lock read must not depend on an earlier 401.
    const fresh = new RegistryClient(acr.front.host, {
      credential: resolveCredential(
        acr.front.host,
        { connectionType: 'azureRM', azureSubscription: 'arm' },
        endpointReader({ arm: secretConnection(acr) }),
        {},
      ).credential,
    });
    assert.equal(fresh.challenge, undefined);
    assert.deepEqual(await readLockFacts(fresh, repo, v1), {
      state: 'locked',
      reason: null,
      writeEnabled: false,
      deleteEnabled: false,
    });
  });
});
