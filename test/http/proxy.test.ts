import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { AzureDevOpsClient } from '../../src/ado/devops-client';
import { sdkHttpClient } from '../../src/http/sdk-client';
import { DigestReleaseError } from '../../src/errors';
import { Network } from '../../src/http/network';
import type { AgentNetworkValues } from '../../src/http/settings';
import { parseNetworkSettings } from '../../src/http/settings';
import { Transport } from '../../src/http/transport';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { freePort } from '../../lab/registry';
import type { RunningSquid } from '../../lab/squid';
import { startSquid } from '../../lab/squid';
import { PROXY_ONLY_DOMAIN, selfSignedCertificate } from '../../lab/tls';

// The network layer against a real proxy (squid), in this process: what the packaged task tests
// (test/packaged/proxy.test.ts) do not reach: plain http forwarded through the proxy, an https:// proxy,
// the proxy's refusals, Agent.SkipCertValidation kept to Azure DevOps, Agent.CAInfo beside Node's
// own trust, and the HTTP client @azure/identity signs in with.

const USER = { username: 'net-user', password: 'N3t-pa55:word;x' };

async function expectError(
  promise: Promise<unknown>,
  code: string,
  ...fragments: string[]
): Promise<DigestReleaseError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DigestReleaseError, String(err));
    assert.equal(err.code, code, err.message);
    for (const fragment of fragments)
      assert.ok(err.message.includes(fragment), `message lacks "${fragment}": ${err.message}`);
    assert.ok(!err.message.includes(USER.password), 'the proxy password is never in a message');
    return err;
  }
  assert.fail(`expected ${code}`);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('the network layer through a real proxy (squid)', function () {
  this.timeout(60_000);
  let g: TestGround;
  let squid: RunningSquid;
  let plain: Server;
  let plainPort: number;
  let selfSigned: Server;
  let selfSignedPort: number;
  let selfSignedCa: string;
  const named = (name: string, port: number): string => `${name}.${PROXY_ONLY_DOMAIN}:${port}`;
  const network = (values: AgentNetworkValues = {}): Network =>
    new Network(
      parseNetworkSettings({
        proxyUrl: squid.url,
        proxyUsername: USER.username,
        proxyPassword: USER.password,
        ...values,
      }).settings,
    );
  const transport = (
    net: Network,
    options: { agentMaySkipCertValidation?: boolean; maxAttempts?: number } = {},
  ): Transport =>
    new Transport({
      network: net,
      maxAttempts: options.maxAttempts ?? 1,
      backoffMs: 10,
      timeoutMs: 10_000,
      agentMaySkipCertValidation: options.agentMaySkipCertValidation === true,
    });

  before(async () => {
    g = await testGround();
    squid = await startSquid({
      users: [USER],
      hosts: ['plain', 'registry', 'denied', 'closed', 'self'].map((name) => `${name}.${PROXY_ONLY_DOMAIN}`),
      deny: [`denied.${PROXY_ONLY_DOMAIN}`],
      tls: { cert: g.certs.serverCert, key: g.certs.serverKey },
    });
    plain = createHttpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          url: req.url,
          host: req.headers.host,
          proxyAuthorization: req.headers['proxy-authorization'] ?? null,
          value: [],
        }),
      );
    });
    plainPort = await listen(plain);
    // A server whose certificate no one trusts: its own CA, made here.
    const own = selfSignedCertificate(join(g.dir, 'self-signed'), `/CN=self.${PROXY_ONLY_DOMAIN}`, [
      `subjectAltName=DNS:self.${PROXY_ONLY_DOMAIN},IP:127.0.0.1`,
    ]);
    selfSignedCa = own.certFile;
    selfSigned = createHttpsServer(
      { cert: readFileSync(selfSignedCa), key: readFileSync(own.keyFile) },
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end('{"count":0,"value":[]}');
      },
    );
    selfSignedPort = await listen(selfSigned);
  });
  after(() => {
    squid?.stop();
    plain?.close();
    selfSigned?.close();
  });

  it("forwards plain http through the proxy in absolute form with the proxy credentials; a refused password is the proxy's 407, not the host's", async () => {
    const url = `http://${named('plain', plainPort)}/tfs/DefaultCollection/_apis/x?api-version=7.1`;
    const response = await transport(network()).send({ method: 'GET', url });
    assert.equal(response.status, 200);
    const seen = (await response.json()) as { url: string; host: string; proxyAuthorization: string | null };
    assert.equal(seen.url, '/tfs/DefaultCollection/_apis/x?api-version=7.1');
    assert.equal(seen.host, named('plain', plainPort));
    assert.equal(seen.proxyAuthorization, null, 'the proxy credentials stay with the proxy');
    const log = await squid.waitFor((entries) => entries.some((e) => e.target === url));
    assert.ok(
      log.some((e) => e.method === 'GET' && e.target === url && e.user === USER.username && e.status.endsWith('/200')),
      JSON.stringify(log),
    );

    await expectError(
      transport(network({ proxyPassword: 'wrong' })).send({ method: 'GET', url }),
      'PROXY',
      '407',
      `"${USER.username}"`,
    );
  });

  it("tunnels https through an https:// proxy, trusting the proxy's certificate as any other", async () => {
    const https = new Network(
      parseNetworkSettings({ proxyUrl: squid.tlsUrl, proxyUsername: USER.username, proxyPassword: USER.password })
        .settings,
    );
    const target = named('registry', g.open.port);
    const response = await transport(https).send({ method: 'GET', url: `https://${target}/v2/` });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(https.proxyFor(new URL(`https://${target}/`))?.url.protocol, 'https:');
  });

  it('names the proxy and the fix when it cannot be reached, refuses the host (403) or cannot connect to it', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    await expectError(
      transport(network({ proxyUrl: nowhere })).send({
        method: 'GET',
        url: `https://${named('registry', g.open.port)}/v2/`,
      }),
      'PROXY',
      `Could not reach the agent's proxy ${nowhere} (Agent.ProxyUrl)`,
      'refused',
      '--proxyurl',
    );
    await expectError(
      transport(network()).send({ method: 'GET', url: `https://${named('denied', g.open.port)}/v2/` }),
      'PROXY',
      '403',
      'refused to connect',
      'bypass list',
    );
    const closed = named('closed', await freePort());
    const failed = await expectError(
      transport(network(), { maxAttempts: 2 }).send({ method: 'GET', url: `https://${closed}/v2/` }),
      'PROXY',
      'could not connect to',
      closed,
      'after 2 attempts',
    );
    assert.equal(failed.status, 503, 'retried once: a proxy that cannot connect may do better a moment later');
  });

  it('honours Agent.SkipCertValidation only where Azure DevOps is called, and says so elsewhere', async () => {
    const skip = network({ skipCertValidation: 'True' });
    const url = `https://${named('self', selfSignedPort)}/org/project/_apis/pipelines/approvals?api-version=7.1`;
    const response = await transport(skip, { agentMaySkipCertValidation: true }).send({ method: 'GET', url });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const ado = new AzureDevOpsClient({
      collectionUri: `https://${named('self', selfSignedPort)}/org/`,
      project: 'project',
      token: 't',
      network: skip,
    });
    assert.deepEqual(await ado.get('pipelines/approvals'), { count: 0, value: [] });
    await expectError(
      transport(skip).send({ method: 'GET', url }),
      'UNREACHABLE',
      'TLS certificate was not accepted',
      'Agent.SkipCertValidation applies only to Azure DevOps',
    );
    await expectError(
      transport(network(), { agentMaySkipCertValidation: true }).send({ method: 'GET', url }),
      'UNREACHABLE',
      'TLS certificate was not accepted',
    );
  });

  it("trusts Agent.CAInfo besides Node's own authorities, and refuses a CA file it cannot use", async () => {
    const withCa = network({ caFile: selfSignedCa });
    const response = await transport(withCa).send({ method: 'GET', url: `https://${named('self', selfSignedPort)}/` });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const stillNode = await transport(withCa).send({
      method: 'GET',
      url: `https://${named('registry', g.open.port)}/v2/`,
    });
    assert.equal(stillNode.status, 200, 'the run CA, trusted through NODE_EXTRA_CA_CERTS, still is');
    await stillNode.body?.cancel();
    await expectError(
      transport(network({ caFile: join(g.dir, 'no-such-ca.pem') })).send({
        method: 'GET',
        url: `https://${named('self', selfSignedPort)}/`,
      }),
      'NETWORK_SETTINGS',
      'Agent.CAInfo',
      'ENOENT',
      '--sslcacert',
    );
    const notPem = join(g.dir, 'not-a-ca.pem');
    writeFileSync(notPem, 'just text\n');
    await expectError(
      transport(network({ caFile: notPem })).send({ method: 'GET', url: `https://${named('self', selfSignedPort)}/` }),
      'NETWORK_SETTINGS',
      'holds no PEM certificate',
    );
  });

  it("gives @azure/identity the same route: its requests through the proxy, its failures in the SDK's shape with our words", async () => {
    const client = sdkHttpClient(network());
    const request = createPipelineRequest({
      url: `https://${named('registry', g.open.port)}/v2/`,
      method: 'GET',
      headers: createHttpHeaders({ 'Accept-Encoding': 'gzip,deflate', Accept: 'application/json' }),
    });
    const response = await client.sendRequest(request);
    assert.equal(response.status, 200);
    assert.equal(response.bodyAsText, '{}');
    assert.equal(response.headers.get('Docker-Distribution-API-Version'), 'registry/2.0');
    assert.equal(response.request, request);

    const bypassed = sdkHttpClient(network({ proxyBypassList: ['registry\\.corp\\.test'] }));
    await assert.rejects(
      bypassed.sendRequest(
        createPipelineRequest({ url: `https://${named('registry', g.open.port)}/v2/`, method: 'GET' }),
      ),
      (err: unknown) => {
        const e = err as { name: string; code: string; message: string };
        assert.equal(e.name, 'RestError');
        assert.equal(e.code, 'ENOTFOUND', 'the SDK retries on its system error codes as with its own client');
        assert.match(
          e.message,
          /Could not reach the Microsoft Entra ID endpoint registry\.corp\.test:\d+: the host name "registry\.corp\.test" could not be resolved/,
        );
        return true;
      },
    );
    await assert.rejects(
      sdkHttpClient(network({ proxyPassword: 'wrong' })).sendRequest(
        createPipelineRequest({ url: `https://${named('registry', g.open.port)}/v2/`, method: 'GET' }),
      ),
      /407.*net-user/,
    );
  });
});
