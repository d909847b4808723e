import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { readLockFacts } from '../../src/acr/locks';
import { parseDigest } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import type { Recorded, ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// The lock state evidence records, read live, against scripted registries: an ACR whose pulls are
// anonymous (no challenge before the lock read), an ACR that refuses the metadata read, a registry
// that challenged with Basic, and one without the /acr/v1 API.

const DIGEST = parseDigest(`sha256:${'a'.repeat(64)}`);
const CREDENTIAL = { kind: 'basic', username: 'reader', password: 'Pw-for-lock-tests', source: 'test' } as const;

type Properties = { status: number; body: unknown };

/** An ACR-like registry: its /acr/v1 always challenges as ACR does; /v2 pulls are open. */
function acrLike(host: () => string, properties: () => Properties) {
  return (req: Recorded, res: ServerResponse) => {
    const url = new URL(req.url, `https://${host()}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      void res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    if (url.pathname === '/oauth2/token')
      return json(200, { access_token: `t-${url.searchParams.get('scope') ?? ''}` });
    if (url.pathname.startsWith('/acr/v1/')) {
      if (!req.headers.authorization?.startsWith('Bearer t-repository:team/app:metadata_read')) {
        return json(
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
          {
            'WWW-Authenticate': `Bearer realm="https://${host()}/oauth2/token",service="${host()}",scope="repository:team/app:metadata_read"`,
          },
        );
      }
      const answer = properties();
      return json(answer.status, answer.body);
    }
    return json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not here' }] });
  };
}

const manifestProperties = (writeEnabled: boolean, deleteEnabled: boolean, digest: string = DIGEST): Properties => ({
  status: 200,
  body: {
    registry: 'r',
    imageName: 'team/app',
    manifest: { digest, changeableAttributes: { writeEnabled, deleteEnabled, readEnabled: true, listEnabled: true } },
  },
});

describe('evidence lock state (read live, scripted registries)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const paths = () => server!.requests.map((r) => `${r.method} ${new URL(r.url, 'https://x').pathname}`);

  it('reads locked from an ACR that has not challenged yet (anonymous pulls): the /acr/v1 probe brings the challenge', async () => {
    server = await startScripted(
      acrLike(
        () => server!.host,
        () => manifestProperties(false, false),
      ),
    );
    const client = new RegistryClient(server.host, { credential: CREDENTIAL });
    assert.equal(client.challenge, undefined, 'no 401 seen before the lock read');
    const lock = await readLockFacts(client, 'team/app', DIGEST);
    assert.deepEqual(lock, { state: 'locked', reason: null, writeEnabled: false, deleteEnabled: false });
    assert.deepEqual(paths(), [
      `GET /acr/v1/team/app/_manifests/${DIGEST}`,
      'GET /oauth2/token',
      `GET /acr/v1/team/app/_manifests/${DIGEST}`,
    ]);
  });

  it('reads unlocked when writeEnabled is true, keeping deleteEnabled as read', async () => {
    server = await startScripted(
      acrLike(
        () => server!.host,
        () => manifestProperties(true, false),
      ),
    );
    const lock = await readLockFacts(new RegistryClient(server.host, { credential: CREDENTIAL }), 'team/app', DIGEST);
    assert.deepEqual(lock, { state: 'unlocked', reason: null, writeEnabled: true, deleteEnabled: false });
  });

  it("records unknown with the registry's reason when the metadata read is refused, never a guess", async () => {
    server = await startScripted(
      acrLike(
        () => server!.host,
        () => ({
          status: 403,
          body: { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] },
        }),
      ),
    );
    const lock = await readLockFacts(new RegistryClient(server.host, { credential: CREDENTIAL }), 'team/app', DIGEST);
    assert.equal(lock.state, 'unknown');
    assert.equal(lock.writeEnabled, null);
    assert.equal(lock.deleteEnabled, null);
    assert.match(lock.reason ?? '', /denied reading the properties/);
    assert.match(lock.reason ?? '', /requested access to the resource is denied/);
    assert.match(lock.reason ?? '', /metadata_read/);
  });

  it('records unknown when the registry answers for another manifest than the one asked', async () => {
    server = await startScripted(
      acrLike(
        () => server!.host,
        () => manifestProperties(false, false, `sha256:${'b'.repeat(64)}`),
      ),
    );
    const lock = await readLockFacts(new RegistryClient(server.host, { credential: CREDENTIAL }), 'team/app', DIGEST);
    assert.equal(lock.state, 'unknown');
    assert.match(lock.reason ?? '', /another manifest/);
  });

  it('is notApplicable, without asking for properties, on a registry that already challenged with Basic', async () => {
    server = await startScripted((req, res) => {
      if (!req.headers.authorization)
        return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' }).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"tags":[]}');
    });
    const client = new RegistryClient(server.host, { credential: CREDENTIAL });
    await (
      await client.request({ method: 'GET', path: '/v2/team/app/tags/list', scope: 'repository:team/app:pull' })
    ).body?.cancel();
    const before = server.requests.length;
    const lock = await readLockFacts(client, 'team/app', DIGEST);
    assert.equal(lock.state, 'notApplicable');
    assert.match(lock.reason ?? '', /is not an Azure Container Registry/);
    assert.equal(server.requests.length, before, 'no request: the challenge seen decides');
  });

  it('is notApplicable on an open registry that has no /acr/v1 API', async () => {
    server = await startScripted(
      (_req, res) => void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n'),
    );
    const lock = await readLockFacts(new RegistryClient(server.host), 'team/app', DIGEST);
    assert.deepEqual(lock, {
      state: 'notApplicable',
      reason: `${server.host} is not an Azure Container Registry and has no manifest locks.`,
      writeEnabled: null,
      deleteEnabled: null,
    });
  });
});
