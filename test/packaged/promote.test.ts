import assert from 'node:assert/strict';
import type { Digest } from '../../src/reference/digest';
import { parseDigest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { putManifest } from '../../src/registry/manifests';
import { OCI_INDEX } from '../../src/registry/manifest-parse';
import { listReferrers } from '../../src/registry/referrers';
import type { TestGround } from '../../lab/ground';
import { pushSamples, testGround } from '../../lab/ground';
import { inspectRaw, sha256Hex } from '../../lab/images';
import { startProxy } from '../../lab/proxy';
import { pushArtifactReferrer } from '../../lab/referrer';
import { runTask } from '../../lab/agent';
import { failedWith, succeeded } from '../../lab/outcome';

// DigestPromote@1 run from the packaged .vsix between two real registries: `open` (anonymous) and
// `basic` (htpasswd, signed in with a Docker Registry service connection).

describe('DigestPromote@1 (packaged task between real registries)', function () {
  this.timeout(120_000);
  let g: TestGround;
  let open: RegistryClient;
  let basic: RegistryClient;
  const digests: Record<string, Digest> = {};

  before(async () => {
    g = await testGround();
    pushSamples(g, g.open, g.openAccess, 'promo/app');
    open = new RegistryClient(g.open.host, { credential: { kind: 'anonymous', source: 'test' } });
    basic = new RegistryClient(g.basic.host, {
      credential: { kind: 'basic', username: g.user.username, password: g.user.password, source: 'test' },
    });
    for (const tag of ['oci', 'v2s2', 'multi'])
      digests[tag] = parseDigest(sha256Hex(inspectRaw(`${g.open.host}/promo/app:${tag}`, g.openAccess)));
  });

  const endpoint = () => ({
    'prod-conn': {
      url: `https://${g.basic.host}`,
      scheme: 'UsernamePassword',
      parameters: { username: g.user.username, password: g.user.password, registry: `https://${g.basic.host}` },
    },
  });
  /** Promote from `open` (anonymous) to `basic` (service connection). */
  const promote = (inputs: Record<string, string>) =>
    runTask('DigestPromote', {
      inputs: {
        sourceConnectionType: 'anonymous',
        targetConnectionType: 'dockerRegistry',
        targetDockerRegistryServiceConnection: 'prod-conn',
        ...inputs,
      },
      hostEnv: g.hostEnv,
      connections: endpoint(),
    });
  const atTarget = (ref: string) => sha256Hex(inspectRaw(`${g.basic.host}/${ref}`, g.basicAccess));

  for (const kind of ['oci', 'v2s2'] as const) {
    it(`promotes ${kind === 'oci' ? 'an OCI image' : 'a Docker v2 schema 2 image'}: the target serves bytes that hash to the source digest`, async () => {
      const run = await promote({
        source: `${g.open.host}/promo/app@${digests[kind]!}`,
        target: `${g.basic.host}/prod/${kind}:1.0.0`,
      });
      succeeded(run);
      assert.equal(atTarget(`prod/${kind}:1.0.0`), digests[kind]);
      assert.equal(run.outputs.IMAGE_DIGEST, digests[kind]);
      assert.equal(run.outputs.IMAGE_REF, `${g.basic.host}/prod/${kind}@${digests[kind]!}`);
      assert.equal(run.outputs.PROMOTED_BLOBS, '2', 'the config and the one layer');
      assert.ok(Number(run.outputs.PROMOTED_BYTES) > 0);
      const visible = (run.stdout + run.stderr)
        .split('\n')
        .filter((line) => !line.startsWith('##vso[task.setsecret]'))
        .join('\n');
      assert.ok(
        !visible.includes(g.user.password),
        'the password is never printed, except to ask the agent to mask it',
      );
      assert.ok(run.summaries[0]!.includes(digests[kind]!));
    });
  }

  it('promotes a two-platform index with every child manifest; promoting it again moves no blob bytes', async () => {
    const run = await promote({
      source: `${g.open.host}/promo/app@${digests.multi!}`,
      target: `${g.basic.host}/prod/multi:2.0.0`,
    });
    succeeded(run);
    assert.equal(atTarget('prod/multi:2.0.0'), digests.multi);
    const index = JSON.parse(inspectRaw(`${g.open.host}/promo/app:multi`, g.openAccess).toString('utf8')) as {
      manifests: { digest: string }[];
    };
    assert.equal(index.manifests.length, 2);
    for (const child of index.manifests) assert.equal(atTarget(`prod/multi@${child.digest}`), child.digest);
    assert.equal(run.outputs.PROMOTED_BLOBS, '4');

    const again = await promote({
      source: `${g.open.host}/promo/app@${digests.multi!}`,
      target: `${g.basic.host}/prod/multi:2.0.0`,
    });
    succeeded(again);
    assert.equal(again.outputs.PROMOTED_BYTES, '0');
    assert.equal(again.outputs.PROMOTED_BLOBS, '0');
    assert.match(again.stdout, /No blob bytes moved: 4 blob\(s\) already at the target/);
    assert.equal(again.outputs.IMAGE_DIGEST, digests.multi);
  });

  it("asks the source for an index's child manifests at once, not one round trip per platform", async () => {
    const index = await open.getManifest('promo/app', digests.multi!);
    const children = index.manifest.kind === 'index' ? index.manifest.manifests.map((m) => m.digest) : [];
    assert.equal(children.length, 2);
    // Each child's GET is held until the other's has come too (or 3 s have passed): read one after
    // the other, the first is answered only after the wait, and the second comes late.
    const arrived = new Set<string>();
    let answered = 0;
    let together = false;
    let release = () => {};
    const bothIn = new Promise<void>((resolve) => (release = resolve));
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      intercept: async (method, path) => {
        const child = children.find((digest) => path.endsWith(`/manifests/${digest}`));
        if (method !== 'GET' || child === undefined) return undefined;
        arrived.add(child);
        if (arrived.size === children.length) {
          together = answered === 0;
          release();
        }
        await Promise.race([bothIn, new Promise((resolve) => setTimeout(resolve, 3_000))]);
        answered++;
        return undefined;
      },
    });
    try {
      succeeded(
        await promote({
          source: `${proxy.host}/promo/app@${digests.multi!}`,
          target: `${g.basic.host}/prod/children:1.0`,
        }),
      );
      assert.ok(together, 'both child manifests were asked for before either was answered');
      assert.equal(atTarget('prod/children:1.0'), digests.multi);
    } finally {
      await proxy.close();
    }
  });

  it('promotes a digest the target already holds under a new tag without looking at its blobs again', async () => {
    const proxy = await startProxy(g.open.url, g.certs);
    try {
      const run = (tag: string) =>
        runTask('DigestPromote', {
          inputs: {
            source: `${g.open.host}/promo/app@${digests.multi!}`,
            target: `${proxy.host}/promo/held:${tag}`,
            sourceConnectionType: 'anonymous',
            targetConnectionType: 'anonymous',
          },
          hostEnv: g.hostEnv,
        });
      succeeded(await run('1.0.0'));
      const before = proxy.requests.length;
      const again = await run('1.0.1');
      succeeded(again);
      const asked = proxy.requests.slice(before).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(
        asked.filter((r) => r.includes('/blobs/')),
        [],
        'no blob of the image is looked at',
      );
      const rootReads = asked.filter((r) => r.endsWith(`/v2/promo/held/manifests/${digests.multi!}`));
      assert.deepEqual(
        rootReads,
        [`GET /v2/promo/held/manifests/${digests.multi!}`],
        `the index is read once, its bytes hashed, and not read again before the tag is written:\n${asked.join('\n')}`,
      );
      assert.equal(again.outputs.PROMOTED_BLOBS, '0');
      assert.match(again.stdout, /is there already: its manifests and blobs are not copied again/);
      assert.match(again.stdout, /No blob bytes moved: 4 blob\(s\) already at the target/);
      assert.equal(sha256Hex(inspectRaw(`${g.open.host}/promo/held:1.0.1`, g.openAccess)), digests.multi);

      // Promoted again under the same tag: nothing to write, so the first look at the target (the
      // tag, and the index by digest) is all the target is asked; no second look at the tag.
      const beforeSame = proxy.requests.length;
      const same = await run('1.0.1');
      succeeded(same);
      assert.match(same.stdout, /Tags already at this digest: 1\.0\.1\./);
      const children = (
        JSON.parse(inspectRaw(`${g.open.host}/promo/app@${digests.multi!}`, g.openAccess).toString()) as {
          manifests: { digest: string }[];
        }
      ).manifests.map((m) => `HEAD /v2/promo/held/manifests/${m.digest}`);
      const sameAsked = proxy.requests.slice(beforeSame).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(
        sameAsked.slice(0, 2),
        ['HEAD /v2/promo/held/manifests/1.0.1', `GET /v2/promo/held/manifests/${digests.multi!}`],
        sameAsked.join('\n'),
      );
      // The platform manifests are still looked at (HEAD, several at once), as every read-back does.
      assert.deepEqual(sameAsked.slice(2).sort(), children.sort(), sameAsked.join('\n'));
    } finally {
      await proxy.close();
    }
  });

  it('mounts blobs within one registry instead of copying them', async () => {
    const run = await runTask('DigestPromote', {
      inputs: {
        source: `${g.open.host}/promo/app@${digests.oci!}`,
        target: `${g.open.host}/promo/mounted:1`,
        sourceConnectionType: 'anonymous',
        targetConnectionType: 'anonymous',
      },
      hostEnv: g.hostEnv,
    });
    succeeded(run);
    assert.equal(run.outputs.PROMOTED_BLOBS, '2');
    assert.equal(run.outputs.PROMOTED_BYTES, '0');
    assert.equal(sha256Hex(inspectRaw(`${g.open.host}/promo/mounted:1`, g.openAccess)), digests.oci);
  });

  it('copies the referrers of the index and of its children (tag-schema fallback on both sides)', async () => {
    pushSamples(g, g.open, g.openAccess, 'promo/signed');
    const subject = parseDigest(sha256Hex(inspectRaw(`${g.open.host}/promo/signed:multi`, g.openAccess)));
    const { digest: referrerDigest } = await pushArtifactReferrer(
      open,
      'promo/signed',
      { digest: subject, mediaType: OCI_INDEX },
      {
        artifactType: 'application/vnd.example.signature',
        payload: '{"signed":"by the release pipeline"}',
        annotations: { 'org.example.signer': 'release' },
      },
    );

    const run = await promote({
      source: `${g.open.host}/promo/signed@${subject}`,
      target: `${g.basic.host}/prod/signed:1.0.0`,
    });
    succeeded(run);
    const found = await listReferrers(basic, 'prod/signed', subject);
    assert.deepEqual(
      found.map((d) => [d.digest, d.artifactType, d.annotations?.['org.example.signer']]),
      [[referrerDigest, 'application/vnd.example.signature', 'release']],
    );
    assert.equal(atTarget(`prod/signed@${referrerDigest}`), referrerDigest);

    const without = await promote({
      source: `${g.open.host}/promo/signed@${subject}`,
      target: `${g.basic.host}/prod/unsigned:1.0.0`,
      includeReferrers: 'false',
    });
    succeeded(without);
    assert.deepEqual(await listReferrers(basic, 'prod/unsigned', subject), []);
  });

  it('refuses to move a tag that points at other bytes, naming both digests; overwriteTags moves it', async () => {
    succeeded(
      await promote({
        source: `${g.open.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/conflict:stable`,
      }),
    );
    const run = await promote({
      source: `${g.open.host}/promo/app@${digests.v2s2!}`,
      target: `${g.basic.host}/prod/conflict:stable`,
    });
    failedWith(
      run,
      'TAG_CONFLICT',
      `${g.basic.host}/prod/conflict:stable`,
      digests.oci!,
      digests.v2s2!,
      'overwriteTags',
      'Nothing was copied',
    );
    assert.equal(atTarget('prod/conflict:stable'), digests.oci);
    assert.equal(await basic.headManifest('prod/conflict', digests.v2s2!), undefined, 'nothing was copied');

    const same = await promote({
      source: `${g.open.host}/promo/app@${digests.oci!}`,
      target: `${g.basic.host}/prod/conflict:stable`,
    });
    succeeded(same);
    assert.match(same.stdout, /Tags already at this digest: stable/);

    const moved = await promote({
      source: `${g.open.host}/promo/app@${digests.v2s2!}`,
      target: `${g.basic.host}/prod/conflict:stable`,
      overwriteTags: 'true',
    });
    succeeded(moved);
    assert.equal(atTarget('prod/conflict:stable'), digests.v2s2);
  });

  it('refuses a tag that another run took while the blobs were copied, saying the image is at the target by digest and no tag was written', async () => {
    // The other run's image shares no blob with the one promoted here, so this one has blobs to copy.
    const index = await open.getManifest('promo/app', digests.multi!);
    const arm64 =
      index.manifest.kind === 'index'
        ? index.manifest.manifests.find((m) => m.platform?.architecture === 'arm64')?.digest
        : undefined;
    assert.ok(arm64 !== undefined);
    succeeded(
      await promote({ source: `${g.open.host}/promo/app@${arm64}`, target: `${g.basic.host}/prod/race:other` }),
    );
    const taken = await open.getManifest('promo/app', arm64);
    let raced = false;
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      intercept: async (method, path) => {
        if (method === 'GET' && path.includes('/blobs/') && !raced) {
          raced = true;
          await putManifest(basic, 'prod/race', 'stable', new Uint8Array(taken.bytes), taken.mediaType);
        }
        return undefined;
      },
    });
    try {
      const run = await promote({
        source: `${proxy.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/race:stable`,
      });
      assert.ok(raced, 'the tag was taken during the copy');
      failedWith(
        run,
        'TAG_CONFLICT',
        `${g.basic.host}/prod/race:stable`,
        digests.oci!,
        arm64,
        'overwriteTags',
        `${g.basic.host}/prod/race@${digests.oci!}`,
        'no tag was written',
      );
      assert.ok(!run.message.includes('Nothing was copied'), run.message);
      assert.equal(atTarget('prod/race:stable'), arm64);
      assert.ok(
        (await basic.headManifest('prod/race', digests.oci!)) !== undefined,
        'the image is at the target by digest',
      );
    } finally {
      await proxy.close();
    }
  });

  it('two runs promoting other digests to one tag at once never both succeed: 20 rounds, one winner each, the tag names the winner', async () => {
    const rounds = 20;
    const outcomes: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      const tag = `round-${round}`;
      const runs = await Promise.all(
        (['oci', 'v2s2'] as const).map(async (kind) => ({
          kind,
          run: await promote({
            source: `${g.open.host}/promo/app@${digests[kind]!}`,
            target: `${g.basic.host}/prod/racing:${tag}`,
          }),
        })),
      );
      const winners = runs.filter(({ run }) => run.result === 'Succeeded');
      outcomes.push(`${tag}: ${runs.map(({ kind, run }) => `${kind} ${run.result}`).join(', ')}`);
      assert.equal(
        winners.length,
        1,
        `exactly one run may succeed:\n${outcomes.join('\n')}\n${runs.map(({ run }) => run.message).join('\n')}`,
      );
      const loser = runs.find(({ run }) => run.result !== 'Succeeded')!;
      failedWith(loser.run, 'TAG_CONFLICT', `${g.basic.host}/prod/racing:${tag}`, digests[loser.kind]!);
      assert.equal(
        atTarget(`prod/racing:${tag}`),
        digests[winners[0]!.kind],
        `the tag names the run that succeeded (${tag})`,
      );
    }
  });

  it('writes additional tags and semver tags only where the version is the highest of its line', async () => {
    succeeded(
      await promote({
        source: `${g.open.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/semver:1.4.2`,
        semverTags: 'true',
        additionalTags: 'release\n# a comment\n\ncandidate',
      }),
    );
    for (const tag of ['1.4.2', '1.4', '1', 'release', 'candidate'])
      assert.equal(atTarget(`prod/semver:${tag}`), digests.oci, tag);
    const older = await promote({
      source: `${g.open.host}/promo/app@${digests.v2s2!}`,
      target: `${g.basic.host}/prod/semver:1.3.9`,
      semverTags: 'true',
    });
    succeeded(older);
    assert.equal(atTarget('prod/semver:1.3'), digests.v2s2);
    assert.equal(atTarget('prod/semver:1'), digests.oci, '1 stays on 1.4.2');
    assert.match(older.stdout, /1 is not moved/);
  });

  it('fails on a source blob whose bytes do not match its digest, and writes no target tag', async () => {
    const proxy = await startProxy(g.open.url, g.certs, (method, path, _status, _headers, body) =>
      method === 'GET' && path.includes('/blobs/') && body.length > 0
        ? Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body[body.length - 1]! ^ 1])])
        : body,
    );
    try {
      const run = await promote({
        source: `${proxy.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/tampered:1.0.0`,
      });
      failedWith(run, 'DIGEST_MISMATCH', 'sha256:');
      assert.equal(await basic.headManifest('prod/tampered', '1.0.0'), undefined);
      assert.equal(await basic.headManifest('prod/tampered', digests.oci!), undefined);
    } finally {
      await proxy.close();
    }
  });

  it('retries a blob whose connection is reset in the middle, and completes', async () => {
    let cuts = 0;
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      cutAfter: (method, path) => (method === 'GET' && path.includes('/blobs/') && cuts++ === 0 ? 40 : undefined),
    });
    try {
      const run = await promote({
        source: `${proxy.host}/promo/app@${digests.multi!}`,
        target: `${g.basic.host}/prod/reset:1.0.0`,
      });
      succeeded(run);
      assert.equal(cuts > 0, true);
      assert.ok(
        run.warnings.some((w) => /starting it over/.test(w)),
        `a retry is reported: ${run.warnings.join('\n')}`,
      );
      assert.equal(atTarget('prod/reset:1.0.0'), digests.multi);
    } finally {
      await proxy.close();
    }
  });

  it('writes a manifest and a tag again when the target, for a moment, does not find a blob just copied (two runs linking one blob)', async () => {
    // distribution rewrites a repository's blob link in place; a manifest PUT in that moment is
    // answered as below. The target here is the open registry behind a proxy that answers so once.
    const puts: string[] = [];
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      intercept: (method, path) => {
        if (method !== 'PUT' || !path.includes('/manifests/')) return undefined;
        const first = !puts.includes(path);
        puts.push(path);
        if (!first) return undefined;
        const errors = [
          { code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' },
          { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' },
        ];
        return {
          status: 400,
          headers: { 'Content-Type': 'application/json' },
          body: Buffer.from(JSON.stringify({ errors })),
        };
      },
    });
    try {
      const run = await runTask('DigestPromote', {
        inputs: {
          source: `${g.open.host}/promo/app@${digests.oci!}`,
          target: `${proxy.host}/promo/relinked:1`,
          sourceConnectionType: 'anonymous',
          targetConnectionType: 'anonymous',
        },
        hostEnv: g.hostEnv,
      });
      succeeded(run);
      assert.equal(
        puts.length,
        4,
        `the manifest by digest and the tag, each refused once and written again: ${puts.join(', ')}`,
      );
      assert.equal(new Set(puts).size, 2);
      assert.equal(sha256Hex(inspectRaw(`${g.open.host}/promo/relinked:1`, g.openAccess)), digests.oci);
    } finally {
      await proxy.close();
    }
  });

  it('fails, naming the source registry and the blob, when the source keeps dropping the connection mid-blob; writes no target tag', async () => {
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      cutAfter: (method, path) => (method === 'GET' && path.includes('/blobs/') ? 40 : undefined),
    });
    try {
      const run = await promote({
        source: `${proxy.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/dropped:1.0.0`,
      });
      failedWith(
        run,
        'UNREACHABLE',
        `The source registry ${proxy.host} dropped the connection while sending the blob sha256:`,
        'after 40 of',
      );
      assert.ok(!run.message.includes(`Could not reach the registry ${g.basic.host}`), run.message);
      assert.equal(await basic.headManifest('prod/dropped', '1.0.0'), undefined);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a tag-only source unless allowTagSource, and then reports the digest it resolved', async () => {
    failedWith(
      await promote({ source: `${g.open.host}/promo/app:oci`, target: `${g.basic.host}/prod/bytag:1` }),
      'INVALID_INPUT',
      'source',
      'allowTagSource',
    );
    const run = await promote({
      source: `${g.open.host}/promo/app:oci`,
      target: `${g.basic.host}/prod/bytag:1`,
      allowTagSource: 'true',
    });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, digests.oci);
    assert.match(run.stdout, /resolved once to sha256:/);
  });

  const refusals: [string, Record<string, string>, string[]][] = [
    ['a target with a digest', { target: `127.0.0.1:1/prod/x@sha256:${'a'.repeat(64)}` }, ['target', 'Remove']],
    [
      'mode import into a target signed in without Azure Resource Manager',
      { mode: 'import' },
      ['targetConnectionType', '"dockerRegistry"', 'targetConnectionType: azureRM', 'mode: copy'],
    ],
    [
      'an azureRM target without its service connection',
      { targetConnectionType: 'azureRM' },
      ['targetConnectionType is azureRM', 'targetAzureSubscription is empty'],
    ],
    [
      'a dockerRegistry source without its service connection',
      { sourceConnectionType: 'dockerRegistry' },
      ['sourceConnectionType is dockerRegistry', 'sourceDockerRegistryServiceConnection is empty'],
    ],
    ['a concurrency of 0', { concurrency: '0' }, ['concurrency', '"0"', '1 to 32']],
    ['a bad additional tag', { additionalTags: 'ok\n-bad' }, ['additionalTags', '-bad']],
  ];
  for (const [what, inputs, fragments] of refusals) {
    it(`refuses ${what}, naming the input and the fix`, async () => {
      const run = await promote({
        source: `${g.open.host}/promo/app@${digests.oci!}`,
        target: `${g.basic.host}/prod/refused:1`,
        ...inputs,
      });
      failedWith(run, 'INVALID_INPUT', ...fragments);
    });
  }
});
