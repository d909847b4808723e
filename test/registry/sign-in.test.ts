import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { isDigestReleaseError } from '../../src/errors';
import { RegistryClient } from '../../src/registry/client';
import type { EndlessBody } from '../../lab/endless';
import { endlessBody } from '../../lab/endless';
import type { Recorded, ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// The registry client's sign-in and checks against scripted registries: Bearer tokens (anonymous,
// with Basic credentials, with a refresh token), caching per scope, and manifests that lie.

const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

function manifest(
  res: ServerResponse,
  headers: Record<string, string> = { 'Docker-Content-Digest': DIGEST },
  body = MANIFEST,
): void {
  res
    .writeHead(200, {
      'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      'Content-Length': String(body.length),
      ...headers,
    })
    .end(body);
}

/** A registry that wants Bearer tokens from its own /token realm, issuing one per scope. */
function bearerRegistry(host: () => string, check: (req: Recorded) => boolean = () => true) {
  return (req: Recorded, res: ServerResponse) => {
    const url = new URL(req.url, `https://${host()}`);
    if (url.pathname === '/token') {
      if (!check(req))
        return void res
          .writeHead(401, { 'Content-Type': 'application/json' })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      const scope = url.searchParams.get('scope') ?? new URLSearchParams(req.body).get('scope');
      return void res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ token: `t:${scope}`, expires_in: 300 }));
    }
    const repo = /^\/v2\/(.+)\/manifests\//.exec(url.pathname)?.[1];
    if (req.headers.authorization !== `Bearer t:repository:${repo}:pull`) {
      return void res
        .writeHead(401, {
          'WWW-Authenticate': `Bearer realm="https://${host()}/token",service="scripted",scope="repository:${repo}:pull"`,
        })
        .end();
    }
    manifest(res);
  };
}

describe('registry client sign-in and checks (scripted registries)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const paths = () => server!.requests.map((r) => `${r.method} ${new URL(r.url, 'https://x').pathname}`);

  it('gets an anonymous Bearer token once per scope and reuses it', async () => {
    server = await startScripted(bearerRegistry(() => server!.host));
    const client = new RegistryClient(server.host);
    assert.equal((await client.getManifest('team/app', '1.0')).digest, DIGEST);
    assert.equal((await client.getManifest('team/app', '1.1')).digest, DIGEST);
    await client.getManifest('team/other', '1.0');
    assert.deepEqual(paths(), [
      'GET /v2/team/app/manifests/1.0',
      'GET /token',
      'GET /v2/team/app/manifests/1.0',
      'GET /v2/team/app/manifests/1.1',
      'GET /token',
      'GET /v2/team/other/manifests/1.0',
    ]);
    assert.equal(server.requests[1]!.headers.authorization, undefined, 'anonymous token requests carry no credentials');
  });

  it('shares one token request among concurrent requests for the same scope', async () => {
    server = await startScripted(bearerRegistry(() => server!.host));
    const client = new RegistryClient(server.host);
    await client.getManifest('team/app', '1.0');
    await Promise.all([
      client.getManifest('team/new', '1'),
      client.getManifest('team/new', '2'),
      client.getManifest('team/new', '3'),
    ]);
    assert.equal(
      paths().filter((p) => p === 'GET /token').length,
      2,
      'one token for team/app, one shared for team/new',
    );
  });

  it('sends nothing to a token service that is not https', async () => {
    server = await startScripted(
      (_req, res) =>
        void res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="http://127.0.0.1:9/token",service="s"' }).end(),
    );
    const client = new RegistryClient(server.host, {
      credential: { kind: 'basic', username: 'u', password: 'p', source: 's' },
    });
    await assert.rejects(
      client.getManifest('a', '1'),
      (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /not https/.test(err.message),
    );
  });

  it('sends Basic credentials to the token realm, and names their source when refused', async () => {
    const expected = `Basic ${Buffer.from('bot:s3cret').toString('base64')}`;
    server = await startScripted(
      bearerRegistry(
        () => server!.host,
        (req) => req.headers.authorization === expected,
      ),
    );
    const good = new RegistryClient(server.host, {
      credential: { kind: 'basic', username: 'bot', password: 's3cret', source: 'service connection "conn"' },
    });
    assert.equal((await good.getManifest('team/app', '1.0')).digest, DIGEST);
    const bad = new RegistryClient(server.host, {
      credential: { kind: 'basic', username: 'bot', password: 'wrong', source: 'service connection "conn"' },
    });
    await assert.rejects(bad.getManifest('team/app', '1.0'), (err: unknown) => {
      return (
        isDigestReleaseError(err, 'UNAUTHORIZED') &&
        err.message.includes('service connection "conn"') &&
        err.message.includes('"bot"') &&
        !err.message.includes('wrong')
      );
    });
  });

  it('posts a refresh token (docker identitytoken) to the realm as an OAuth2 grant', async () => {
    server = await startScripted(
      bearerRegistry(
        () => server!.host,
        (req) => req.method === 'POST' && new URLSearchParams(req.body).get('refresh_token') === 'rt',
      ),
    );
    const client = new RegistryClient(server.host, {
      credential: { kind: 'refreshToken', refreshToken: 'rt', source: 'docker config' },
    });
    assert.equal((await client.getManifest('team/app', '1.0')).digest, DIGEST);
    const form = new URLSearchParams(server.requests[1]!.body);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('scope'), 'repository:team/app:pull');
    assert.equal(form.get('service'), 'scripted');
  });

  it('answers a Basic challenge with Basic credentials, and says sign-in is needed without them', async () => {
    server = await startScripted((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`)
        return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      manifest(res);
    });
    assert.equal(
      (
        await new RegistryClient(server.host, {
          credential: { kind: 'basic', username: 'u', password: 'p', source: 's' },
        }).getManifest('a', '1')
      ).digest,
      DIGEST,
    );
    await assert.rejects(
      new RegistryClient(server.host).getManifest('a', '1'),
      (err: unknown) => isDigestReleaseError(err, 'UNAUTHORIZED') && /requires sign-in/.test(err.message),
    );
  });

  it('hashes the bytes when the registry sends no Docker-Content-Digest', async () => {
    server = await startScripted((_req, res) => manifest(res, {}));
    assert.equal((await new RegistryClient(server.host).getManifest('a', '1')).digest, DIGEST);
  });

  it('refuses bytes that do not hash to the digest asked for', async () => {
    server = await startScripted((_req, res) => manifest(res, {}));
    const other = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      new RegistryClient(server.host).getManifest('a', other),
      (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH') && err.message.includes(other),
    );
  });

  it('refuses a HEAD without a Docker-Content-Digest, and one that names another digest', async () => {
    server = await startScripted((req, res) => {
      if (req.url.endsWith('/1'))
        return void res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end();
      res.writeHead(200, { 'Docker-Content-Digest': `sha256:${'1'.repeat(64)}` }).end();
    });
    const client = new RegistryClient(server.host);
    await assert.rejects(
      client.headManifest('a', '1'),
      (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /Docker-Content-Digest/.test(err.message),
    );
    await assert.rejects(client.headManifest('a', DIGEST), (err: unknown) =>
      isDigestReleaseError(err, 'DIGEST_MISMATCH'),
    );
  });

  /** A scripted registry that answers with `status` and a 64 MiB body without a Content-Length. */
  async function endlessAnswer(status: number): Promise<EndlessBody> {
    const body = endlessBody();
    server = await startScripted((_req, res) =>
      body.send(res, status, {
        'Content-Type': status === 200 ? 'application/vnd.oci.image.manifest.v1+json' : 'text/html',
      }),
    );
    return body;
  }

  it('stops reading a manifest sent without Content-Length once it passes 4 MiB', async () => {
    const body = await endlessAnswer(200);
    await assert.rejects(
      new RegistryClient(server!.host).getManifest('a', '1'),
      (err: unknown) =>
        isDigestReleaseError(err, 'REGISTRY_ERROR') &&
        err.message.includes('runs past 4 MiB, more than a manifest can be; it was not read further'),
    );
    const sent = await body.sent();
    assert.ok(sent < body.offered / 2, `the client read ${sent} bytes of ${body.offered} before giving up`);
  });

  it('reads no more of an error answer than an error envelope can be', async () => {
    const body = await endlessAnswer(403);
    await assert.rejects(new RegistryClient(server!.host).getManifest('a', '1'), (err: unknown) =>
      isDigestReleaseError(err, 'DENIED'),
    );
    const sent = await body.sent();
    assert.ok(sent < body.offered / 2, `the client read ${sent} bytes of ${body.offered} of an error answer`);
  });

  it('asks for every manifest kind it reads, and no schema 1', async () => {
    server = await startScripted((_req, res) => manifest(res));
    await new RegistryClient(server.host).getManifest('a', '1');
    const accept = String(server.requests[0]!.headers.accept);
    for (const type of [
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
    ]) {
      assert.ok(accept.includes(type), type);
    }
    assert.ok(!accept.includes('distribution.manifest.v1'), 'no schema 1');
  });
});
