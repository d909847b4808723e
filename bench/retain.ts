import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { attachEvidence } from '../src/evidence/attach';
import { serialiseEvidence } from '../src/evidence/statement';
import { runPool } from '../src/pool';
import type { Digest } from '../src/reference/digest';
import { RegistryClient } from '../src/registry/client';
import { putManifest } from '../src/registry/manifests';
import { OCI_MANIFEST } from '../src/registry/manifest-parse';
import { samplePredicate } from '../test/evidence/helpers';
import { runCertificates, testDir } from '../lab/ground';
import { OciLayout, push, skopeo } from '../lab/images';
import { startProxy } from '../lab/proxy';
import { startRegistry } from '../lab/registry';
import { runTask } from '../lab/agent';
import { median, ratio } from './stats';

// DigestRetain against what a script would do without it, on one repository of 500 manifests (500
// tags) of which 100 are releases to two environments over 200 days, each with its evidence
// attached the way DigestEvidence@1 attaches it (the core's attachEvidence; the tag schema, as the
// distribution registry has no referrers API). The task (report) reads every release's evidence
// and decides; the peer, `skopeo list-tags` and `skopeo inspect --raw` of each tag, 8 at a time,
// only learns which digest each tag names. Requests are counted at a proxy before the registry.
// Printed, never asserted.

const MANIFESTS = 500;
const RELEASES = 100;
const RUNS = 3;
const PEER_CONCURRENCY = 8;

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(testDir(), 'bench-retain-'));
  try {
    const certs = runCertificates();
    const registry = await startRegistry(join(dir, 'registry'), certs);
    const repo = 'bench/shop';
    const layout = new OciLayout(join(dir, 'layout'));
    layout.image('base', 'amd64', 'bench shop\n');
    push(layout, 'base', `${registry.host}/${repo}:base`, { certDir: certs.certDir });

    // 500 manifests over the same blobs, told apart by an annotation, each under its own tag.
    const client = new RegistryClient(registry.host);
    const base = await client.getManifest(repo, 'base');
    const doc = JSON.parse(Buffer.from(base.bytes).toString('utf8')) as Record<string, unknown>;
    const digests: Digest[] = [];
    await runPool(
      Array.from({ length: MANIFESTS }, (_, i) => i),
      8,
      async (i) => {
        const bytes = new Uint8Array(
          Buffer.from(
            JSON.stringify({
              ...doc,
              mediaType: OCI_MANIFEST,
              annotations: { 'org.opencontainers.image.revision': `build-${i}` },
            }),
          ),
        );
        digests[i] = await putManifest(client, repo, `build-${i}`, bytes, OCI_MANIFEST);
      },
    );
    // 100 of them released, every fifth, alternately to prod and staging, one every two days; each rolls back to the one before in its environment.
    const before: Record<string, Digest | null> = { prod: null, staging: null };
    const start = Date.now() - 200 * 24 * 60 * 60 * 1000;
    for (let n = 0; n < RELEASES; n++) {
      const digest = digests[n * (MANIFESTS / RELEASES)]!;
      const environment = n % 2 === 0 ? 'prod' : 'staging';
      const predicate = samplePredicate({
        image: { registry: registry.host, repository: repo, tag: null, digest, mediaType: OCI_MANIFEST, platforms: {} },
        environment,
        rollback: { digest: before[environment] ?? null, source: 'auto', evidence: null, reason: null },
        writtenAt: new Date(start + n * 2 * 24 * 60 * 60 * 1000).toISOString(),
      });
      const head = (await client.headManifest(repo, digest))!;
      await attachEvidence(client, repo, serialiseEvidence(predicate), {
        mediaType: head.mediaType,
        digest,
        size: head.size,
      });
      before[environment] = digest;
    }

    let requests = 0;
    const proxy = await startProxy(registry.url, certs, (_m, _p, _s, _h, body) => {
      requests++;
      return body;
    });
    const host = proxy.host;

    const taskTimes: number[] = [];
    const taskRequests: number[] = [];
    let keepCount = '';
    for (let i = 0; i < RUNS; i++) {
      requests = 0;
      const started = process.hrtime.bigint();
      const run = await runTask('DigestRetain', {
        inputs: {
          repository: `${host}/${repo}`,
          connectionType: 'anonymous',
          keepReleases: '3',
          keepDays: '60',
          outputPath: `$(Build.ArtifactStagingDirectory)/retain/keep-${i}.json`,
        },
        hostEnv: { NODE_EXTRA_CA_CERTS: certs.caFile },
      });
      taskTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
      taskRequests.push(requests);
      if (run.result !== 'Succeeded') throw new Error(`DigestRetain failed: ${run.message}`);
      keepCount = run.outputs.KEEP_COUNT ?? '';
    }

    requests = 0;
    const peerStarted = process.hrtime.bigint();
    const listed = await skopeo(['list-tags', '--cert-dir', certs.certDir, `docker://${host}/${repo}`]);
    if (listed.code !== 0) throw new Error(`skopeo list-tags failed: ${listed.stderr}`);
    const tags = (JSON.parse(listed.stdout.toString('utf8')) as { Tags: string[] }).Tags;
    await runPool(tags, PEER_CONCURRENCY, async (tag) => {
      const inspected = await skopeo([
        'inspect',
        '--raw',
        '--cert-dir',
        certs.certDir,
        `docker://${host}/${repo}:${tag}`,
      ]);
      if (inspected.code !== 0) throw new Error(`skopeo inspect ${tag} failed: ${inspected.stderr}`);
    });
    const peerMs = Number(process.hrtime.bigint() - peerStarted) / 1e6;
    const peerRequests = requests;
    await proxy.close();
    registry.stop();

    const taskMs = median(taskTimes);
    console.log(
      `DigestRetain (packaged task, report) on ${MANIFESTS} manifests with ${RELEASES} releases in 2 environments (median of ${RUNS} runs):`,
    );
    console.log(
      `  DigestRetain            ${taskMs.toFixed(0)} ms, ${median(taskRequests)} HTTP requests; keeps ${keepCount} digests, every release's evidence read`,
    );
    console.log(
      `  skopeo list-tags + inspect --raw of each of ${tags.length} tags (${PEER_CONCURRENCY} at a time): ${peerMs.toFixed(0)} ms, ${peerRequests} HTTP requests; digests only, no evidence`,
    );
    console.log(
      `  time: DigestRetain / skopeo ${ratio(taskMs, peerMs)}; requests: ${ratio(median(taskRequests), peerRequests)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
