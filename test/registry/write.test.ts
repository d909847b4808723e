import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { isDigestReleaseError } from '../../src/errors';
import type { Digest } from '../../src/reference/digest';
import { sha256Of } from '../../src/reference/digest';
import { headBlob, mountBlob, openBlob } from '../../src/registry/blobs';
import { uploadBlob } from '../../src/registry/blob-upload';
import { RegistryClient } from '../../src/registry/client';
import { putManifest } from '../../src/registry/manifests';
import { OCI_MANIFEST } from '../../src/registry/manifest-parse';
import { listReferrers, pushReferrer, referrersTag } from '../../src/registry/referrers';
import type { TestGround } from '../../lab/ground';
import { pushSamples, testGround } from '../../lab/ground';
import { inspectRaw, sha256Hex } from '../../lab/images';
import { startProxy } from '../../lab/proxy';
import { pushArtifactReferrer } from '../../lab/referrer';

// The registry write primitives against a real distribution registry: blobs (HEAD, verified GET,
// monolithic and chunked upload, mount), manifests by digest and tag, referrers with the tag-schema
// fallback that distribution 2.8 needs.

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function imageManifest(
  config: { digest: Digest; size: number },
  layers: { digest: Digest; size: number }[],
  extra: Record<string, unknown> = {},
): Uint8Array<ArrayBuffer> {
  const doc = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...extra,
    config: {
      mediaType: (extra.configMediaType as string | undefined) ?? 'application/vnd.oci.image.config.v1+json',
      digest: config.digest,
      size: config.size,
    },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: l.digest,
      size: l.size,
    })),
  };
  delete (doc as Record<string, unknown>).configMediaType;
  return new Uint8Array(Buffer.from(JSON.stringify(doc)));
}

describe('registry write primitives (real distribution registry)', function () {
  this.timeout(60_000);
  let g: TestGround;
  let open: RegistryClient;
  let basic: RegistryClient;
  let appDigest: Digest;
  let configDigest: Digest;
  let configSize: number;

  before(async () => {
    g = await testGround();
    pushSamples(g, g.open, g.openAccess, 'prim/app');
    pushSamples(g, g.basic, g.basicAccess, 'prim/app');
    open = new RegistryClient(g.open.host, { credential: { kind: 'anonymous', source: 'test' } });
    basic = new RegistryClient(g.basic.host, {
      credential: { kind: 'basic', username: g.user.username, password: g.user.password, source: 'test' },
    });
    const image = await open.getManifest('prim/app', 'oci');
    appDigest = image.digest;
    assert.equal(image.manifest.kind, 'image');
    if (image.manifest.kind !== 'image') return;
    configDigest = image.manifest.config.digest;
    configSize = image.manifest.config.size;
  });

  it('HEADs a blob: its size when present, undefined when not', async () => {
    assert.deepEqual(await headBlob(open, 'prim/app', configDigest), { size: configSize });
    assert.equal(await headBlob(open, 'prim/app', sha256Of(randomBytes(8))), undefined);
  });

  it('streams a blob and checks it: the bytes hash to the digest', async () => {
    const bytes = await readAll(await openBlob(basic, 'prim/app', configDigest, configSize));
    assert.equal(sha256Hex(bytes), configDigest);
  });

  it('refuses a blob whose bytes do not match its digest, at the end of the stream', async () => {
    const proxy = await startProxy(g.open.url, g.certs, (method, path, _status, _headers, body) =>
      method === 'GET' && path.includes('/blobs/')
        ? Buffer.from(body.toString('latin1').replace(/a/, 'b'), 'latin1')
        : body,
    );
    try {
      const viaProxy = new RegistryClient(proxy.host);
      const stream = await openBlob(viaProxy, 'prim/app', configDigest, configSize);
      await assert.rejects(
        readAll(stream),
        (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH') && /hash to sha256:/.test(err.message),
      );
    } finally {
      await proxy.close();
    }
  });

  it('follows a redirect to storage without sending the Authorization header there', async () => {
    const seen: { path: string; authorization: string | undefined }[] = [];
    const proxy = await startProxy(g.basic.url, g.certs, (_m, _p, _s, _h, body) => body, {
      onRequest: (_method, path, headers) => seen.push({ path, authorization: headers.authorization }),
      intercept: async (method, path, headers) => {
        if (method === 'GET' && path.startsWith('/v2/prim/app/blobs/') && headers.authorization) {
          return { status: 307, headers: { location: `/storage/${path.split('/').pop()!}` } };
        }
        if (path.startsWith('/storage/')) {
          if (headers.authorization)
            return { status: 400, body: Buffer.from('storage was sent the registry credentials') };
          const upstream = await fetch(`${g.basic.url}/v2/prim/app/blobs/${path.split('/').pop()!}`, {
            headers: {
              authorization: `Basic ${Buffer.from(`${g.user.username}:${g.user.password}`).toString('base64')}`,
            },
          });
          return { status: 200, body: Buffer.from(await upstream.arrayBuffer()) };
        }
        return undefined;
      },
    });
    try {
      const viaProxy = new RegistryClient(proxy.host, {
        credential: { kind: 'basic', username: g.user.username, password: g.user.password, source: 'test' },
      });
      const bytes = await readAll(await openBlob(viaProxy, 'prim/app', configDigest, configSize));
      assert.equal(sha256Hex(bytes), configDigest);
      const storage = seen.filter((r) => r.path.startsWith('/storage/'));
      assert.equal(storage.length, 1);
      assert.equal(storage[0]!.authorization, undefined);
    } finally {
      await proxy.close();
    }
  });

  it('uploads bytes monolithically, and a stream from another registry, and both are then present', async () => {
    const bytes = new Uint8Array(randomBytes(300_000));
    const digest = sha256Of(bytes);
    await uploadBlob(open, 'prim/up', digest, bytes.byteLength, () => bytes);
    assert.deepEqual(await headBlob(open, 'prim/up', digest), { size: bytes.byteLength });

    await uploadBlob(open, 'prim/streamed', configDigest, configSize, () =>
      openBlob(basic, 'prim/app', configDigest, configSize),
    );
    assert.deepEqual(await headBlob(open, 'prim/streamed', configDigest), { size: configSize });
  });

  it('names the source registry and the blob when the source drops the connection mid-blob, retries, and names the source when it gives up', async () => {
    const bytes = new Uint8Array(randomBytes(100_000));
    const digest = sha256Of(bytes);
    await uploadBlob(open, 'prim/dropping', digest, bytes.byteLength, () => bytes);
    const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
      cutAfter: (method, path) => (method === 'GET' && path.includes('/blobs/') ? 40 : undefined),
    });
    try {
      const source = new RegistryClient(proxy.host, { peer: 'source registry' });
      const retried: unknown[] = [];
      const copy = (chunkSize?: number) =>
        uploadBlob(
          basic,
          'prim/dropped',
          digest,
          bytes.byteLength,
          (stalls) => openBlob(source, 'prim/dropping', digest, bytes.byteLength, { stalls }),
          {
            ...(chunkSize ? { chunkSize } : {}),
            retryBackoffMs: 10,
            onRetry: (_attempt, err) => retried.push(err),
          },
        );
      const namesSource = (err: unknown): boolean =>
        isDigestReleaseError(err, 'UNREACHABLE') &&
        err.message.includes(
          `The source registry ${proxy.host} dropped the connection while sending the blob ${digest}`,
        ) &&
        /after 40 of 100000 bytes/.test(err.message) &&
        !/Could not reach/.test(err.message);
      for (const chunkSize of [undefined, 64 * 1024]) {
        retried.length = 0;
        await assert.rejects(
          copy(chunkSize),
          (err: unknown) => namesSource(err) && /was tried 3 times/.test((err as Error).message),
        );
        assert.equal(retried.length, 2, 'each drop was retried');
        assert.ok(retried.every(namesSource), String(retried));
      }
      assert.equal(await headBlob(basic, 'prim/dropped', digest), undefined);
    } finally {
      await proxy.close();
    }
  });

  it('uploads in PATCH chunks when asked, with relative Location headers', async () => {
    const bytes = new Uint8Array(randomBytes(200_000));
    const digest = sha256Of(bytes);
    const asStream = () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < bytes.byteLength; i += 7_000) yield Buffer.from(bytes.slice(i, i + 7_000));
        })(),
      );
    await uploadBlob(basic, 'prim/chunked', digest, bytes.byteLength, asStream, { chunkSize: 64 * 1024 });
    assert.deepEqual(await headBlob(basic, 'prim/chunked', digest), { size: bytes.byteLength });
    const back = await readAll(await openBlob(basic, 'prim/chunked', digest, bytes.byteLength));
    assert.ok(Buffer.from(bytes).equals(back));
  });

  it("keeps the registry's error envelope in the message when it refuses to start an upload or takes no more chunks", async () => {
    const envelope = (message: string) => ({
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ errors: [{ code: 'DENIED', message }] })),
    });
    const bytes = new Uint8Array(randomBytes(100_000));
    const digest = sha256Of(bytes);
    for (const [refused, message] of [
      ['POST', 'the repository storage quota is exceeded'],
      ['PATCH', 'the upload exceeds the size allowed for this repository'],
    ] as const) {
      const proxy = await startProxy(g.open.url, g.certs, (_m, _p, _s, _h, body) => body, {
        intercept: (method, path) =>
          method === refused && path.includes('/blobs/uploads/') ? envelope(message) : undefined,
      });
      try {
        const viaProxy = new RegistryClient(proxy.host);
        await assert.rejects(
          uploadBlob(viaProxy, 'prim/refused', digest, bytes.byteLength, () => bytes, { chunkSize: 64 * 1024 }),
          (err: unknown) => isDigestReleaseError(err, 'DENIED') && err.message.includes(`(DENIED: ${message})`),
        );
      } finally {
        await proxy.close();
      }
    }
  });

  it('refuses to upload bytes that do not match the digest, and stores nothing', async () => {
    const bytes = new Uint8Array(randomBytes(1000));
    const claimed = sha256Of(new Uint8Array(randomBytes(1000)));
    await assert.rejects(
      uploadBlob(open, 'prim/bad', claimed, 1000, () => bytes),
      (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH'),
    );
    const stream = () => Readable.from([Buffer.from(bytes)]);
    await assert.rejects(uploadBlob(open, 'prim/bad', claimed, 1000, stream), (err: unknown) =>
      isDigestReleaseError(err, 'DIGEST_MISMATCH'),
    );
    assert.equal(await headBlob(open, 'prim/bad', claimed), undefined);
  });

  it('mounts a blob from another repository of the same registry; declines when the source lacks it', async () => {
    assert.equal(await mountBlob(open, 'prim/mounted', configDigest, 'prim/app'), true);
    assert.deepEqual(await headBlob(open, 'prim/mounted', configDigest), { size: configSize });
    const missing = sha256Of(new Uint8Array(randomBytes(16)));
    assert.equal(await mountBlob(open, 'prim/mounted', missing, 'prim/app'), false);
  });

  it('writes a manifest by digest and by tag; skopeo reads back the same bytes', async () => {
    const config = new Uint8Array(
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
    );
    const layer = new Uint8Array(randomBytes(5000));
    await uploadBlob(open, 'prim/written', sha256Of(config), config.byteLength, () => config);
    await uploadBlob(open, 'prim/written', sha256Of(layer), layer.byteLength, () => layer);
    const bytes = imageManifest({ digest: sha256Of(config), size: config.byteLength }, [
      { digest: sha256Of(layer), size: layer.byteLength },
    ]);
    const digest = await putManifest(open, 'prim/written', sha256Of(bytes), bytes, OCI_MANIFEST);
    assert.equal(digest, sha256Of(bytes));
    assert.equal(await putManifest(open, 'prim/written', 'v1', bytes, OCI_MANIFEST), digest);
    assert.equal(sha256Hex(inspectRaw(`${g.open.host}/prim/written:v1`, g.openAccess)), digest);
    await assert.rejects(putManifest(open, 'prim/written', sha256Of(config), bytes, OCI_MANIFEST), (err: unknown) =>
      isDigestReleaseError(err, 'DIGEST_MISMATCH'),
    );
  });

  it('lists no referrers for an image without any, through the tag-schema fallback', async () => {
    assert.deepEqual(await listReferrers(open, 'prim/app', appDigest), []);
  });

  it('reads a missing tag-schema index as empty without asking for the tag list; a missing manifest read by getManifest still tells a missing repository apart', async () => {
    const sent: string[] = [];
    const counted = new RegistryClient(g.open.host, {
      onRequest: (method, url) => sent.push(`${method} ${new URL(url).pathname}`),
    });
    assert.deepEqual(await listReferrers(counted, 'prim/app', appDigest), []);
    assert.deepEqual(
      sent.filter((line) => !line.includes('/referrers/')),
      [`GET /v2/prim/app/manifests/${referrersTag(appDigest)}`],
      'one read of the sha256- tag, and no tags/list probe, on the normal path',
    );
    await assert.rejects(counted.getManifest('prim/no-such-repository', 'v1'), (err: unknown) =>
      isDigestReleaseError(err, 'NAME_UNKNOWN'),
    );
    await assert.rejects(counted.getManifest('prim/app', 'no-such-tag'), (err: unknown) =>
      isDigestReleaseError(err, 'MANIFEST_UNKNOWN'),
    );
  });

  it('pushes a referrer and finds it, with its artifactType and annotations; pushing again adds nothing', async () => {
    const { digest, bytes } = await pushArtifactReferrer(
      open,
      'prim/app',
      { digest: appDigest, mediaType: OCI_MANIFEST },
      {
        artifactType: 'application/vnd.example.sbom+json',
        payload: '{"sbom":"a test sbom"}',
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      },
    );
    const expected = {
      mediaType: OCI_MANIFEST,
      digest,
      size: bytes.byteLength,
      artifactType: 'application/vnd.example.sbom+json',
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    };
    assert.deepEqual(await listReferrers(open, 'prim/app', appDigest), [expected]);
    assert.deepEqual(
      await listReferrers(open, 'prim/app', appDigest, { artifactType: 'application/vnd.example.sbom+json' }),
      [expected],
    );
    assert.deepEqual(await listReferrers(open, 'prim/app', appDigest, { artifactType: 'application/other' }), []);
    await pushReferrer(open, 'prim/app', bytes, OCI_MANIFEST, appDigest);
    assert.equal((await listReferrers(open, 'prim/app', appDigest)).length, 1);
    assert.ok((await open.headManifest('prim/app', referrersTag(appDigest))) !== undefined, 'the fallback tag exists');
  });

  it('refuses to push a referrer whose subject is another digest', async () => {
    const bytes = imageManifest({ digest: configDigest, size: configSize }, []);
    await assert.rejects(pushReferrer(open, 'prim/app', bytes, OCI_MANIFEST, appDigest), (err: unknown) =>
      isDigestReleaseError(err, 'INVALID_INPUT'),
    );
  });
});
