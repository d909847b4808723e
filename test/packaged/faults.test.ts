import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachEvidence } from '../../src/evidence/attach';
import { serialiseEvidence } from '../../src/evidence/statement';
import { promote } from '../../src/promote/promote';
import type { Digest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { referrersTag } from '../../src/registry/referrers';
import { samplePredicate } from '../evidence/helpers';
import type { AcrGround } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { TaskRun } from '../../lab/agent';
import { AgentJob, runTask } from '../../lab/agent';
import type { Cell, Column, Row } from '../../lab/faults';
import { COLUMNS, ROWS, boundSeconds } from '../../lab/faults';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { OciLayout, pushAsync } from '../../lab/images';
import { failedWith, succeeded } from '../../lab/outcome';
import type { Fault, RunningProxy } from '../../lab/proxy';
import { startProxy } from '../../lab/proxy';

// Every task that talks to a registry under every fault of lab/faults.ts, the way a pipeline meets them: the
// packaged task in a child process through the agent model, real registries (distribution, and the
// ACR front before one) behind a fault proxy that plays the fault on the task's own requests. Each
// cell of the table gets its own repository and its own route through the proxy, so the cells run
// at once; the stall time is 1 s (DigestRelease.StallSeconds, as a pipeline would set it), so
// bounds stated in stall times are checked in seconds. Each cell asserts the outcome, how often the
// faulted request was sent, how long the step took, and what the message says.
//
// The two races (two promotions to one tag; two evidence records for one digest) run 20 times each
// in promote.test.ts and evidence.test.ts.

const STALL_SECONDS = 1;
/** What a step needs besides the fault: starting node, signing in, the copy itself, on a loaded machine. */
const START_SLACK_SECONDS = 12;
/** Cells run at once: most of their time is spent waiting out stalls. */
const PARALLEL = 6;

type RegistryKind = 'open' | 'basic' | 'acr';

/** A cell's image and where the fault plays: its repository on the faulted registry. */
interface Prepared {
  readonly registry: RegistryKind;
  /** The repository the fault routes by (the target's, for DigestPromote at the target). */
  readonly repo: string;
  readonly digest: Digest;
  readonly layer: Digest;
  /** DigestEvidence verify: the statement blob of the evidence attached. */
  readonly statement?: Digest;
}

/** A cell's live state in the proxy: what it plays, and what it saw. */
interface Route {
  readonly row: Row;
  readonly column: Column;
  readonly prepared: Prepared;
  active: boolean;
  played: number;
  /** DigestLock: the manifest's lock was asked for (what 'lock-readback' waits for). */
  lockAsked: boolean;
  /**
   * DigestPromote: the image manifest was written at the target. Before that, the target's GET of it
   * is the look for an image already there (a 404); the 'manifest' fault is played on its read-back.
   */
  manifestWritten: boolean;
  /** Requests of the faulted kind, in order: their identity and whether the fault was played. */
  readonly seen: { readonly identity: string; readonly faulted: boolean }[];
}

interface CellResult {
  readonly run: TaskRun;
  readonly seconds: number;
  readonly route: Route;
}

/** One request as retries repeat it: method and path, an upload session's id left out, its digest and hop kept. */
function identity(method: string, path: string): string {
  const url = new URL(path, 'https://x');
  const pathname = decodeURIComponent(url.pathname).replace(/\/blobs\/uploads\/.+$/, '/blobs/uploads/');
  return `${method} ${pathname} digest=${url.searchParams.get('digest') ?? ''} hop=${url.searchParams.get('hop') ?? ''}`;
}

/** The repository a request is about: from its path, or the scope of a token request. */
function repositoryOf(path: string): string | undefined {
  const url = new URL(path, 'https://x');
  const pathname = decodeURIComponent(url.pathname);
  const v2 = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)\//.exec(pathname);
  if (v2) return v2[1];
  const acr = /^\/acr\/v1\/(.+?)\/(_tags|_manifests)\//.exec(pathname);
  if (acr) return acr[1];
  const scope = url.searchParams.get('scope');
  if (pathname === '/oauth2/token' && scope?.startsWith('repository:'))
    return scope.slice('repository:'.length, scope.lastIndexOf(':'));
  return undefined;
}

/** Whether a request is the one `row` faults for a task in `column`. */
function targets(route: Route, method: string, path: string, headers: Record<string, string>): boolean {
  const { row, column, prepared: p } = route;
  const url = new URL(path, 'https://x');
  const pathname = decodeURIComponent(url.pathname);
  const R = p.repo;
  // Behind sign-in, reads and writes are faulted once signed: an unsigned one only fetches the challenge.
  const signed = p.registry === 'open' || headers.authorization !== undefined || url.searchParams.has('hop');
  switch (row.target) {
    case 'all':
      return true;
    case 'token':
      return pathname === '/oauth2/token';
    case 'manifest': {
      const selector =
        column === 'capture' || column === 'lock'
          ? 'v1'
          : column === 'evidenceVerify' || column === 'retain'
            ? referrersTag(p.digest)
            : p.digest;
      if (column === 'promoteTarget' && !route.manifestWritten) return false;
      return signed && method === 'GET' && pathname === `/v2/${R}/manifests/${selector}`;
    }
    case 'blob':
      if (!signed) return false;
      if (column === 'promoteSource') return method === 'GET' && pathname === `/v2/${R}/blobs/${p.layer}`;
      if (column === 'evidenceVerify' || column === 'retain')
        return method === 'GET' && pathname === `/v2/${R}/blobs/${p.statement}`;
      if (column === 'promoteTarget')
        return (
          method === 'PUT' &&
          pathname.startsWith(`/v2/${R}/blobs/uploads/`) &&
          url.searchParams.get('digest') === p.layer
        );
      return method === 'PUT' && pathname.startsWith(`/v2/${R}/blobs/uploads/`);
    case 'second-tag':
      return method === 'PUT' && pathname === `/v2/${R}/manifests/2`;
    case 'lock-manifest':
      return method === 'PATCH' && pathname === `/acr/v1/${R}/_manifests/${p.digest}`;
    case 'lock-readback':
      return route.lockAsked && method === 'GET' && pathname === `/acr/v1/${R}/_manifests/${p.digest}`;
    case 'index-write':
      return method === 'PUT' && pathname === `/v2/${R}/manifests/${referrersTag(p.digest)}`;
  }
}

async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await work(item).catch((err: unknown) => errors.push(err));
      }
    }),
  );
  if (errors.length > 0) throw errors[0];
}

describe('faults: every task under every fault (real registries behind a fault proxy, tasks through the agent model)', function () {
  this.timeout(900_000);
  let g: TestGround;
  let acr: AcrGround;
  const proxies = {} as Record<RegistryKind | 'storage', RunningProxy>;
  const routes = new Map<string, Route>();
  const results = new Map<string, CellResult>();
  const stallMs = STALL_SECONDS * 1000;

  /** The proxy's fault for a request to `kind`: the route of the cell whose repository it names. */
  const faultFor =
    (kind: RegistryKind) =>
    (method: string, path: string, headers: Record<string, string>): Fault | undefined => {
      const repo = repositoryOf(path);
      const route = repo === undefined ? undefined : routes.get(`${kind}:${repo}`);
      if (route !== undefined && method === 'PATCH' && path.includes('/_manifests/')) route.lockAsked = true;
      if (
        route !== undefined &&
        method === 'PUT' &&
        path === `/v2/${route.prepared.repo}/manifests/${route.prepared.digest}`
      )
        route.manifestWritten = true;
      if (!route?.active || !targets(route, method, path, headers)) return undefined;
      const play = !route.row.once || route.played === 0;
      route.seen.push({ identity: identity(method, path), faulted: play });
      if (!play) return undefined;
      route.played++;
      return route.row.fault({ path, method, stallMs, storageHost: proxies.storage.host });
    };

  const clientFor = (kind: RegistryKind): RegistryClient => {
    if (kind === 'open') return new RegistryClient(g.open.host);
    if (kind === 'basic')
      return new RegistryClient(g.basic.host, {
        credential: { kind: 'basic', username: g.user.username, password: g.user.password, source: 'test' },
      });
    return new RegistryClient(acr.registry.host);
  };
  const log = { info: () => undefined, warning: () => undefined };

  /** Copies the small or big image (tag v1) from where it was pushed to `repo` on `kind`, in this process. */
  const seed = async (
    kind: RegistryKind,
    repo: string,
    image: 'small' | 'big',
  ): Promise<{ digest: Digest; layer: Digest; mediaType: string; size: number }> => {
    const source = clientFor('open');
    const from = image === 'big' ? 'faults/big' : 'faults/small';
    const root = await source.getManifest(from, 'v1');
    const target = clientFor(kind);
    await promote(
      {
        source,
        sourceRepository: from,
        digest: root.digest,
        target,
        targetRepository: repo,
        tags: ['v1'],
        semverTags: false,
        overwriteTags: true,
        includeReferrers: false,
        concurrency: 2,
      },
      log,
    );
    if (root.manifest.kind !== 'image') throw new Error('the fault images are single images');
    const layer = [...root.manifest.layers].sort((a, b) => b.size - a.size)[0]!.digest;
    return { digest: root.digest, layer, mediaType: root.mediaType, size: root.bytes.byteLength };
  };

  const prepare = async (row: Row, column: Column): Promise<Route> => {
    const registry: RegistryKind = column === 'lock' ? 'acr' : (row.registry ?? 'open');
    const repo = `faults/${row.key}-${column.toLowerCase()}`;
    const image = row.image ?? 'small';
    let seeded: Awaited<ReturnType<typeof seed>>;
    let statement: Digest | undefined;
    if (column === 'promoteTarget') {
      // The source is straight on the open registry; the target repository, faulted, starts empty.
      seeded = await seed('open', `${repo}-src`, image);
    } else {
      seeded = await seed(registry, repo, image);
      if (column === 'evidenceVerify' || column === 'retain') {
        const evidence = serialiseEvidence(
          samplePredicate({
            image: { ...samplePredicate().image, repository: repo, digest: seeded.digest, mediaType: seeded.mediaType },
            scan: { status: 'passed', report: null },
          }),
        );
        await attachEvidence(clientFor(registry), repo, evidence, {
          mediaType: seeded.mediaType,
          digest: seeded.digest,
          size: seeded.size,
        });
        statement = evidence.digest;
      }
    }
    const route: Route = {
      row,
      column,
      prepared: { registry, repo, digest: seeded.digest, layer: seeded.layer, ...(statement ? { statement } : {}) },
      active: false,
      played: 0,
      lockAsked: false,
      manifestWritten: false,
      seen: [],
    };
    routes.set(`${registry}:${repo}`, route);
    return route;
  };

  const connections = () => {
    const creds = acr.access.creds;
    const acrAdmin = { username: creds.slice(0, creds.indexOf(':')), password: creds.slice(creds.indexOf(':') + 1) };
    return {
      'basic-conn': {
        url: `https://${proxies.basic.host}`,
        scheme: 'UsernamePassword',
        parameters: { username: g.user.username, password: g.user.password, registry: `https://${proxies.basic.host}` },
      },
      'acr-conn': {
        url: `https://${proxies.acr.host}`,
        scheme: 'UsernamePassword',
        parameters: {
          username: acrAdmin.username,
          password: acrAdmin.password,
          registry: `https://${proxies.acr.host}`,
        },
      },
    };
  };
  /** The sign-in inputs for a registry kind, with a prefix for DigestPromote's sides. */
  const signIn = (kind: RegistryKind, prefix = ''): Record<string, string> => {
    const name = (input: string) => (prefix ? `${prefix}${input[0]!.toUpperCase()}${input.slice(1)}` : input);
    if (kind === 'open') return { [name('connectionType')]: 'anonymous' };
    return {
      [name('connectionType')]: 'dockerRegistry',
      [name('dockerRegistryServiceConnection')]: kind === 'basic' ? 'basic-conn' : 'acr-conn',
    };
  };

  const runCell = async (route: Route): Promise<TaskRun> => {
    const { column, prepared: p } = route;
    const at = proxies[p.registry].host;
    const common = {
      hostEnv: g.hostEnv,
      connections: connections(),
      variables: { 'DigestRelease.StallSeconds': String(STALL_SECONDS) },
      timeoutMs: 300_000,
    };
    switch (column) {
      case 'capture':
        return runTask('DigestCapture', { ...common, inputs: { image: `${at}/${p.repo}:v1`, ...signIn(p.registry) } });
      case 'lock':
        return runTask('DigestLock', {
          ...common,
          inputs: { image: `${at}/${p.repo}:v1`, expectedDigest: p.digest, ...signIn('acr') },
        });
      case 'promoteSource':
        return runTask('DigestPromote', {
          ...common,
          inputs: {
            source: `${at}/${p.repo}@${p.digest}`,
            target: `${g.open.host}/${p.repo}-dst:1`,
            ...signIn(p.registry, 'source'),
            targetConnectionType: 'anonymous',
          },
        });
      case 'promoteTarget':
        return runTask('DigestPromote', {
          ...common,
          inputs: {
            source: `${g.open.host}/${p.repo}-src@${p.digest}`,
            target: `${at}/${p.repo}:1`,
            additionalTags: '2',
            sourceConnectionType: 'anonymous',
            ...signIn(p.registry, 'target'),
          },
        });
      case 'evidenceRecord':
        return runTask('DigestEvidence', {
          ...common,
          inputs: {
            image: `${at}/${p.repo}@${p.digest}`,
            environment: 'prod',
            scanStatus: 'passed',
            approver: 'Release Manager',
            ...signIn(p.registry),
          },
        });
      case 'evidenceVerify':
        return runTask('DigestEvidence', {
          ...common,
          inputs: { mode: 'verify', image: `${at}/${p.repo}@${p.digest}`, environment: 'prod', ...signIn(p.registry) },
        });
      case 'retain':
        return runTask('DigestRetain', {
          ...common,
          inputs: { repository: `${at}/${p.repo}`, environments: 'prod', action: 'report', ...signIn(p.registry) },
        });
    }
  };

  before(async () => {
    g = await testGround();
    proxies.open = await startProxy(g.open.url, g.certs, undefined, { fault: faultFor('open') });
    proxies.basic = await startProxy(g.basic.url, g.certs, undefined, { fault: faultFor('basic') });
    // Storage on another host: it holds its own grant to the registry, as a pre-signed URL does.
    const grant = `Basic ${Buffer.from(`${g.user.username}:${g.user.password}`).toString('base64')}`;
    proxies.storage = await startProxy(g.basic.url, g.certs, undefined, { upstreamHeaders: { authorization: grant } });
    proxies.acr = await startProxy(() => acr.front.directUrl, g.certs, undefined, { fault: faultFor('acr') });
    acr = await acrGroundFor(g, 'acr-faults', { address: () => proxies.acr.host });

    const small = new OciLayout(join(g.dir, 'images', 'faults-small'));
    small.image('v1', 'amd64', 'payload of the fault suite\n'.repeat(200));
    const big = new OciLayout(join(g.dir, 'images', 'faults-big'));
    big.image('v1', 'amd64', randomBytes(18 * 1024 * 1024).toString('base64'));
    await pushAsync(small, 'v1', `${g.open.host}/faults/small:v1`, g.openAccess);
    await pushAsync(big, 'v1', `${g.open.host}/faults/big:v1`, g.openAccess);

    const cells = ROWS.flatMap((row) =>
      COLUMNS.filter((c) => row.cells[c.key] !== undefined).map((c) => ({ row, column: c.key })),
    );
    const prepared: Route[] = [];
    await pool(cells, PARALLEL, async ({ row, column }) => {
      prepared.push(await prepare(row, column));
    });
    await pool(prepared, PARALLEL, async (route) => {
      route.active = true;
      const started = Date.now();
      const run = await runCell(route);
      route.active = false;
      results.set(`${route.row.key}:${route.column}`, { run, seconds: (Date.now() - started) / 1000, route });
      // DIGEST_RELEASE_FAULTS_LOG=1 prints each cell's time and message, for reading them all at once.
      if (process.env.DIGEST_RELEASE_FAULTS_LOG)
        console.log(
          `${route.row.key} ${route.column} ${((Date.now() - started) / 1000).toFixed(1)} s: ${run.result} ${run.message}`,
        );
    });
  });
  after(async () => {
    await Promise.all(Object.values(proxies).map((proxy) => proxy?.close()));
    await acr?.close();
  });

  /** What the message of a failed cell must name besides its code. */
  const says = (row: Row, column: Column, cell: Cell, route: Route): string[] => {
    const p = route.prepared;
    const host = proxies[p.registry].host;
    const peer =
      column === 'promoteSource' ? 'source registry' : column === 'promoteTarget' ? 'target registry' : 'registry';
    const fragments: string[] = [];
    if (cell.outcome === 'STALLED') fragments.push(`The ${peer} ${host}`, p.repo, 'DigestRelease.StallSeconds');
    if (cell.outcome === 'KEEP_LIST_INCOMPLETE')
      fragments.push('could not be read', 'nothing was decided', `The registry ${host}`, p.repo);
    if (row.key === '503-always') fragments.push('answered 503', 'all 4 attempts');
    if (row.key === 'token-garbage') fragments.push('instead of a token', 'answers in its place');
    if (row.key === 'redirect-loop') fragments.push('redirects that loop');
    if (column === 'promoteTarget')
      fragments.push(
        row.target === 'all' || row.target === 'token' ? 'Nothing was copied and no tag was changed' : 'A rerun',
      );
    if (row.key === '503-second-tag')
      fragments.push('the tag 1 now points at it', '2 was not written (it does not exist)');
    if (row.key === '503-lock-readback')
      fragments.push(
        'Reading the lock back failed after the change',
        `the tag ${host}/${p.repo}:v1 is writeEnabled=false`,
        `the manifest ${p.digest} is writeEnabled=false`,
        'A rerun',
      );
    if (row.key === '503-lock-manifest')
      fragments.push(
        'The lock is half done',
        `the tag ${host}/${p.repo}:v1 is writeEnabled=false`,
        `the manifest ${p.digest}`,
        'not locked',
        'A rerun',
      );
    if (row.key === '503-index')
      fragments.push('is not listed in the referrers index', 'A rerun records the evidence again');
    return fragments;
  };

  for (const row of ROWS) {
    describe(row.title, () => {
      for (const { key: column, title } of COLUMNS) {
        const cell = row.cells[column];
        if (cell === undefined) continue;
        it(`${title}: ${cell.outcome === 'ok' ? 'succeeds' : `fails ${cell.outcome}`}${cell.tries !== undefined ? `, ${cell.tries} tries` : ''}${cell.within ? `, within ${cell.within.stalls} stall times + ${cell.within.seconds} s` : ''}`, async () => {
          const result = results.get(`${row.key}:${column}`);
          assert.ok(result, 'the cell ran');
          const { run, seconds, route } = result;
          if (cell.outcome === 'ok') succeeded(run);
          else failedWith(run, cell.outcome, ...says(row, column, cell, route));

          const first = route.seen.find((s) => s.faulted);
          assert.ok(first, `the fault was played (${route.seen.length} requests of its kind seen)`);
          const same = route.seen.filter((s) => s.identity === first.identity);
          if (cell.tries !== undefined)
            assert.equal(same.filter((s) => s.faulted).length, cell.tries, `tries of ${first.identity}`);
          if (cell.retried)
            assert.ok(
              same.some((s) => !s.faulted),
              `${first.identity} was sent again after the fault`,
            );
          if (cell.within) {
            const bound = boundSeconds(cell.within, STALL_SECONDS);
            assert.ok(
              seconds <= bound + START_SLACK_SECONDS,
              `took ${seconds} s, bound ${bound} s (+${START_SLACK_SECONDS} s to start)`,
            );
          }
          if (row.key === '429-once') assert.ok(seconds >= 1, 'waited out Retry-After');

          const p = route.prepared;
          if (column === 'promoteTarget') {
            const tag1 = await clientFor(p.registry).headManifest(p.repo, '1');
            if (cell.outcome === 'ok') assert.equal(tag1?.digest, p.digest);
            else if (row.key === '503-second-tag') {
              assert.equal(tag1?.digest, p.digest, 'the first tag was written');
              assert.equal(await clientFor(p.registry).headManifest(p.repo, '2'), undefined, 'the second was not');
            } else assert.equal(tag1, undefined, 'a failed promotion writes no tag');
          }
          if (row.key === '503-lock-readback') {
            assert.equal(acr.front.tagAttributes(p.repo, 'v1')?.writeEnabled, false);
            assert.equal(
              acr.front.manifestAttributes(p.repo, p.digest)?.writeEnabled,
              false,
              'both were locked, as the message says',
            );
          }
          if (row.key === '503-lock-manifest') {
            assert.equal(
              acr.front.tagAttributes(p.repo, 'v1')?.writeEnabled,
              false,
              'the tag is locked, as the message says',
            );
            assert.notEqual(
              acr.front.manifestAttributes(p.repo, p.digest)?.writeEnabled,
              false,
              'the manifest is not, as the message says',
            );
          }
          if (row.key === 'redirect-storage') {
            const there = proxies.storage.requests.filter((r) => r.path.startsWith(`/v2/${p.repo}/`));
            assert.ok(there.length > 0, 'the blob was read from storage');
            assert.ok(
              there.every((r) => r.headers.authorization === undefined),
              'no Authorization went to the storage host',
            );
          }
        });
      }
    });
  }

  it('DigestPin (check and pin mode) makes no registry request, so no registry fault reaches it', async () => {
    const before = Object.values(proxies).reduce((n, proxy) => n + proxy.requests.length, 0);
    const digest = `sha256:${'a'.repeat(64)}`;
    const job = new AgentJob({
      hostEnv: g.hostEnv,
      variables: { 'DigestRelease.StallSeconds': String(STALL_SECONDS) },
    });
    try {
      writeFileSync(join(job.sourcesDirectory, 'pinned.yaml'), `image: ${proxies.open.host}/faults/pin@${digest}\n`);
      writeFileSync(join(job.sourcesDirectory, 'tagged.yaml'), `image: ${proxies.open.host}/faults/pin:1.0\n`);
      succeeded(
        await job.run('DigestPin', {
          inputs: { files: 'pinned.yaml', mode: 'check', allowedRegistries: proxies.open.host },
        }),
      );
      succeeded(
        await job.run('DigestPin', {
          inputs: { files: 'tagged.yaml', images: `${proxies.open.host}/faults/pin@${digest}` },
        }),
      );
    } finally {
      job.dispose();
    }
    assert.equal(
      Object.values(proxies).reduce((n, proxy) => n + proxy.requests.length, 0),
      before,
    );
  });
});
