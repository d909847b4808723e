import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { ArmClient } from '../../src/acr/arm';
import type { EntraTokenSource } from '../../src/acr/exchange';
import { AcrTokenExchange } from '../../src/acr/exchange';
import { getTagProperties } from '../../src/acr/properties';
import { AzureDevOpsClient } from '../../src/ado/devops-client';
import type { ErrorCode } from '../../src/errors';
import { isDigestReleaseError } from '../../src/errors';
import { sha256Of } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { listReferrers } from '../../src/registry/referrers';
import { listTags } from '../../src/registry/tag-list';
import { Transport } from '../../src/http/transport';
import { endlessBody } from '../../lab/endless';
import type { Recorded, ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// Every answer read from a peer is read only up to a limit for its kind: a server that sends an
// endless body (or a proxy's page where JSON was expected) gets a coded error naming the answer,
// and the client stops reading near the limit instead of holding the whole body in memory.

const DIGEST = sha256Of(new Uint8Array(Buffer.from('a subject')));

const entra: EntraTokenSource = {
  description: 'the test connection',
  tenantId: undefined,
  getToken: async () => ({ token: 'entra-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
  secrets: () => [],
};

interface Case {
  readonly name: string;
  /** The bytes the client may read of this answer. */
  readonly limit: number;
  readonly code: ErrorCode;
  /** Words of the message that name the answer. */
  readonly names: string;
  /** Which request gets the endless answer; others get `other`. */
  readonly endless: (req: Recorded) => boolean;
  readonly contentType: string;
  readonly other?: (req: Recorded, res: ServerResponse, host: string) => void;
  readonly read: (host: string) => Promise<unknown>;
}

const MiB = 1024 * 1024;

const cases: Case[] = [
  {
    name: 'a page of referrers',
    limit: 4 * MiB,
    code: 'REGISTRY_ERROR',
    names: `page of the referrers of`,
    endless: (req) => req.url.includes('/referrers/'),
    contentType: 'application/vnd.oci.image.index.v1+json',
    read: (host) => listReferrers(new RegistryClient(host, { maxAttempts: 1 }), 'team/app', DIGEST),
  },
  {
    name: 'a page of tags',
    limit: 16 * MiB,
    code: 'REGISTRY_ERROR',
    names: 'tag list of team/app',
    endless: (req) => req.url.includes('/tags/list'),
    contentType: 'application/json',
    read: (host) => listTags(new RegistryClient(host, { maxAttempts: 1 }), 'team/app'),
  },
  {
    name: 'a token answer',
    limit: 1 * MiB,
    code: 'REGISTRY_ERROR',
    names: 'The answer of the token service of',
    endless: (req) => req.url.startsWith('/token'),
    contentType: 'application/json',
    other: (_req, res, host) =>
      void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="https://${host}/token",service="scripted"` }).end(),
    read: (host) => new RegistryClient(host, { maxAttempts: 1 }).getManifest('team/app', '1.0'),
  },
  {
    name: "ACR's refresh token answer",
    limit: 1 * MiB,
    code: 'REGISTRY_ERROR',
    names: '/oauth2/exchange',
    endless: (req) => req.url.startsWith('/oauth2/exchange'),
    contentType: 'application/json',
    read: (host) =>
      new AcrTokenExchange(entra, new Transport({ maxAttempts: 1 })).refreshToken(
        host,
        new URL(`https://${host}/oauth2/token`),
        host,
      ),
  },
  {
    name: "ACR's tag properties",
    limit: 1 * MiB,
    code: 'REGISTRY_ERROR',
    names: 'properties of the tag',
    endless: (req) => req.url.startsWith('/acr/v1/'),
    contentType: 'application/json',
    read: (host) => getTagProperties(new RegistryClient(host, { maxAttempts: 1 }), 'team/app', '1.0'),
  },
  {
    name: "Resource Manager's list of registries",
    limit: 16 * MiB,
    code: 'ARM_ERROR',
    names: "Azure Resource Manager's list of the container registries",
    endless: () => true,
    contentType: 'application/json',
    read: (host) =>
      new ArmClient({
        resourceManagerUrl: `https://${host}`,
        tokens: entra,
        transport: new Transport({ maxAttempts: 1 }),
      }).listRegistries('sub'),
  },
  {
    name: "Resource Manager's status of an operation",
    limit: 1 * MiB,
    code: 'ARM_ERROR',
    names: "Azure Resource Manager's status of the import",
    endless: () => true,
    contentType: 'application/json',
    read: (host) =>
      new ArmClient({
        resourceManagerUrl: `https://${host}`,
        tokens: entra,
        transport: new Transport({ maxAttempts: 1 }),
      }).pollOperation(`https://${host}/operations/1`, 'the import'),
  },
  {
    name: 'an Azure DevOps answer',
    limit: 32 * MiB,
    code: 'AZURE_DEVOPS_ERROR',
    names: "Azure DevOps' answer to GET build/builds/1/timeline",
    endless: () => true,
    contentType: 'application/json',
    read: (host) =>
      new AzureDevOpsClient({ collectionUri: `https://${host}/org/`, project: 'p', token: 't', maxAttempts: 1 }).get(
        'build/builds/1/timeline',
      ),
  },
];

describe('answers read only up to a limit for their kind (scripted peers)', function () {
  this.timeout(30_000);
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const c of cases) {
    it(`stops reading ${c.name} that has no end, with ${c.code}`, async () => {
      const body = endlessBody(Math.max(64 * MiB, 4 * c.limit));
      server = await startScripted((req, res) => {
        if (c.endless(req)) return body.send(res, 200, { 'Content-Type': c.contentType });
        if (c.other) return c.other(req, res, server!.host);
        res.writeHead(404).end();
      });
      await assert.rejects(c.read(server.host), (err: unknown) => {
        assert.ok(isDigestReleaseError(err, c.code), String(err));
        assert.ok(err.message.includes(c.names), err.message);
        assert.ok(err.message.includes('it was not read further'), err.message);
        return true;
      });
      await server.close();
      const sent = await body.sent();
      assert.ok(sent < body.offered / 2, `the client read ${sent} bytes of ${body.offered}`);
    });
  }

  it('refuses an answer whose Content-Length is over the limit without reading it', async () => {
    const body = endlessBody();
    server = await startScripted((req, res) => {
      if (req.url.startsWith('/token'))
        return body.send(res, 200, { 'Content-Type': 'application/json', 'Content-Length': String(body.offered) });
      res
        .writeHead(401, { 'WWW-Authenticate': `Bearer realm="https://${server!.host}/token",service="scripted"` })
        .end();
    });
    await assert.rejects(
      new RegistryClient(server.host, { maxAttempts: 1 }).getManifest('team/app', '1.0'),
      (err: unknown) =>
        isDigestReleaseError(err, 'REGISTRY_ERROR') &&
        err.message.includes(`is ${body.offered} bytes, more than a token answer can be (1 MiB)`),
    );
    await server.close();
    assert.ok((await body.sent()) < body.offered / 2);
  });
});
