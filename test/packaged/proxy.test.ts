import assert from 'node:assert/strict';
import type { AcrGround, SuiteAcr } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { AdoServer } from '../../lab/ado-server';
import { startAdoServer } from '../../lab/ado-server';
import type { AgentRunOptions, ServiceConnection, TaskRun } from '../../lab/agent';
import { runTask } from '../../lab/agent';
import type { RunningArmFront } from '../../lab/arm-front';
import { startArmFront } from '../../lab/arm-front';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { inspectRawAsync, push, sha256Hex } from '../../lab/images';
import { failedWith, succeeded, visibleOutput } from '../../lab/outcome';
import type { RunningSquid, SquidEntry } from '../../lab/squid';
import { startSquid } from '../../lab/squid';
import { PROXY_ONLY_DOMAIN } from '../../lab/tls';

// A company's self-hosted agent: every request goes through its proxy (squid, with Basic proxy
// credentials), its registries and Azure endpoints present certificates of a private CA that the
// agent trusts through its own setting (./config.sh --sslcacert, Agent.CAInfo), and nothing else
// trusts it: no NODE_EXTRA_CA_CERTS. The hosts have names under corp.test, which only the proxy
// resolves, so a request that reached one went through the proxy, and the proxy's access log says
// with which user. A stale HTTPS_PROXY in the agent's environment leads nowhere: the tasks must take
// the agent's proxy, the Entra ID sign-in included, never the environment's.

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const PROXY_USER = { username: 'release-proxy', password: 'Pr0xy-pa55:w0rd;not@for-logs' };
const NAMES = ['registry', 'acr', 'acr-dev', 'login', 'oidc', 'arm', 'ado'].map(
  (name) => `${name}.${PROXY_ONLY_DOMAIN}`,
);

describe("behind the agent's proxy, trusting a private CA from Agent.CAInfo (packaged tasks through squid)", function () {
  this.timeout(300_000);
  let g: TestGround;
  let squid: RunningSquid;
  let arm: RunningArmFront;
  let prod: SuiteAcr;
  let dev: SuiteAcr;
  let ado: AdoServer;
  let devId: string;
  let amd64: string;
  let multi: string;
  let web: string;

  /** A host of the test ground by a name only the proxy resolves. */
  const named = (name: string, port: number | string): string => `${name}.${PROXY_ONLY_DOMAIN}:${port}`;
  const portOf = (host: string): string => host.slice(host.lastIndexOf(':') + 1);

  /** The agent's own configuration: its proxy with credentials, its CA, and a stale HTTPS_PROXY in its environment. */
  const agent = (proxy: Partial<NonNullable<AgentRunOptions['agentProxy']>> = {}): AgentRunOptions => ({
    agentProxy: { url: squid.url, username: PROXY_USER.username, password: PROXY_USER.password, ...proxy },
    agentCertificates: { caFile: g.certs.caFile },
    hostEnv: { HTTPS_PROXY: 'http://127.0.0.1:9', https_proxy: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9' },
  });
  /** An Azure Resource Manager connection in the subscription that signs in at `acr`'s Entra ID, named login.corp.test. */
  const armConnection = (acr: AcrGround): ServiceConnection => ({
    url: `${arm.url}/`,
    scheme: 'ServicePrincipal',
    parameters: {
      tenantid: acr.tenantId,
      serviceprincipalid: acr.secretApp.clientId,
      serviceprincipalkey: acr.secretApp.clientSecret,
      authenticationType: 'spnKey',
    },
    data: {
      environment: 'AzureCloud',
      environmentAuthorityUrl: `https://${named('login', portOf(acr.front.host))}/`,
      resourceManagerUrl: `${arm.url}/`,
      subscriptionId: SUBSCRIPTION,
    },
  });
  /** The log lines a run added, once the tunnels to `targets` are logged (squid logs a tunnel when it closes). */
  const logOf = async (before: number, ...targets: string[]): Promise<SquidEntry[]> =>
    (
      await squid.waitFor((entries) =>
        targets.every((target) => entries.slice(before).some((e) => e.target === target)),
      )
    ).slice(before);
  const tunnels = (entries: readonly SquidEntry[]): string[] =>
    [...new Set(entries.filter((e) => e.method === 'CONNECT').map((e) => `${e.status} ${e.target} ${e.user}`))].sort();
  /**
   * The proxy password is masked in the log the agent shows, and nothing prints it but task-lib's
   * own debug line of the secret variable (getVariable logs every value it reads; the agent masks
   * it, as it masks every secret variable).
   */
  const noSecretShown = (run: TaskRun, password = PROXY_USER.password): void => {
    const basic = Buffer.from(`${PROXY_USER.username}:${password}`).toString('base64');
    assert.ok(!run.log.includes(password) && !run.log.includes(basic), 'the proxy password is masked in the log');
    const printed = visibleOutput(run)
      .split('\n')
      .filter((line) => !line.startsWith('##vso[task.debug]Agent.ProxyPassword='))
      .join('\n');
    assert.ok(!printed.includes(password) && !printed.includes(basic), 'the task never prints the proxy password');
  };

  before(async () => {
    g = await testGround();
    squid = await startSquid({ users: [PROXY_USER], hosts: NAMES });
    arm = await startArmFront(g.certs, { name: `arm.${PROXY_ONLY_DOMAIN}` });
    prod = await acrGroundFor(g, 'proxy-acr-prod', {
      name: `acr.${PROXY_ONLY_DOMAIN}`,
      arm: { front: arm, name: 'prodacr', resourceGroup: 'rg-prod', subscriptionId: SUBSCRIPTION },
    });
    dev = await acrGroundFor(g, 'proxy-acr-dev', {
      name: `acr-dev.${PROXY_ONLY_DOMAIN}`,
      arm: { front: arm, name: 'devacr', resourceGroup: 'rg-dev', subscriptionId: SUBSCRIPTION },
    });
    devId = dev.armId!;
    ado = await startAdoServer(g.certs, undefined, { name: `ado.${PROXY_ONLY_DOMAIN}` });
    // The test pushes straight to the registries (skopeo on loopback), as a build agent inside would.
    push(g.layout, 'amd64', `${g.open.host}/proxy/app:1.0`, g.openAccess);
    push(g.layout, 'multi', `${dev.registry.host}/team/app:1.0`, dev.directAccess, { all: true });
    push(g.layout, 'arm64', `${prod.registry.host}/team/web:2.0`, prod.directAccess);
    amd64 = sha256Hex(await inspectRawAsync(`${g.open.host}/proxy/app:1.0`, g.openAccess));
    multi = sha256Hex(await inspectRawAsync(`${dev.registry.host}/team/app:1.0`, dev.directAccess));
    web = sha256Hex(await inspectRawAsync(`${prod.registry.host}/team/web:2.0`, prod.directAccess));
  });
  after(async () => {
    squid?.stop();
    await ado?.close();
    await arm?.close();
    for (const acr of [prod, dev]) await acr?.close();
  });

  it('DigestCapture reaches a registry only the proxy can resolve, through CONNECT with the proxy user, trusting the CA given only as Agent.CAInfo; a loopback registry is reached directly', async () => {
    const registry = named('registry', g.open.port);
    const before = squid.entries().length;
    const run = await runTask('DigestCapture', {
      inputs: { image: `${registry}/proxy/app:1.0`, connectionType: 'anonymous' },
      ...agent(),
    });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, amd64);
    assert.deepEqual(tunnels(await logOf(before, registry)), [`TCP_TUNNEL/200 ${registry} ${PROXY_USER.username}`]);
    assert.match(
      run.stdout,
      new RegExp(
        `Network: through the agent's proxy ${squid.url.replace(/[.]/g, '\\.')} \\(as ${PROXY_USER.username}; no bypass list; loopback and link-local hosts direct\\); trusting the agent's CA file`,
      ),
    );
    assert.ok(run.secrets.includes(PROXY_USER.password), 'the task masks the proxy password itself (setSecret)');
    noSecretShown(run);

    const mark = squid.entries().length;
    const direct = await runTask('DigestCapture', {
      inputs: { image: `${g.open.host}/proxy/app:1.0`, connectionType: 'anonymous' },
      ...agent(),
    });
    succeeded(direct);
    assert.equal(direct.outputs.IMAGE_DIGEST, amd64);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(squid.entries().slice(mark), [], 'the agent never proxies loopback: 127.0.0.1 went direct');
  });

  it('without Agent.CAInfo the private CA is trusted by nothing: a clear error that says where the agent takes its CA from', async () => {
    const run = await runTask('DigestCapture', {
      inputs: { image: `${named('registry', g.open.port)}/proxy/app:1.0`, connectionType: 'anonymous' },
      ...agent(),
      agentCertificates: {},
    });
    failedWith(
      run,
      'UNREACHABLE',
      "through the agent's proxy",
      'TLS certificate was not accepted',
      '--sslcacert',
      'Agent.CAInfo',
    );
  });

  it("a wrong proxy password fails with the proxy's 407, naming the proxy user and where the agent takes its credentials from; the password never shows", async () => {
    const wrong = 'Wr0ng-pa55:word;also-secret';
    const before = squid.entries().length;
    const run = await runTask('DigestCapture', {
      inputs: { image: `${named('registry', g.open.port)}/proxy/app:1.0`, connectionType: 'anonymous' },
      ...agent({ password: wrong }),
    });
    failedWith(run, 'PROXY', squid.url, '407', `"${PROXY_USER.username}"`, 'Agent.ProxyPassword', '--proxypassword');
    noSecretShown(run, wrong);
    assert.ok(run.secrets.includes(wrong));
    assert.deepEqual(tunnels(await logOf(before, named('registry', g.open.port))), [
      `TCP_DENIED/407 ${named('registry', g.open.port)} ${PROXY_USER.username}`,
    ]);

    const anonymous = await runTask('DigestCapture', {
      inputs: { image: `${named('registry', g.open.port)}/proxy/app:1.0`, connectionType: 'anonymous' },
      ...agent({ username: undefined, password: undefined }),
    });
    failedWith(anonymous, 'PROXY', '407', 'the agent has none for its proxy');
  });

  it('a host the bypass list matches goes straight to the host, never to the proxy, whether the list comes from .proxybypass or from no_proxy', async () => {
    const registry = named('registry', g.open.port);
    for (const options of [
      agent({ bypass: ['registry\\.corp\\.test'] }),
      { ...agent(), hostEnv: { no_proxy: `localhost,registry.${PROXY_ONLY_DOMAIN}` } },
    ]) {
      const before = squid.entries().length;
      const run = await runTask('DigestCapture', {
        inputs: { image: `${registry}/proxy/app:1.0`, connectionType: 'anonymous' },
        ...options,
      });
      // Only the proxy knows the name: going direct, the task cannot resolve it.
      failedWith(run, 'UNREACHABLE', 'could not be resolved', 'bypass list');
      assert.ok(!run.message.includes(squid.url), 'the error does not say it went through the proxy');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(squid.entries().slice(before), [], 'the proxy never saw the bypassed host');
    }
  });

  it('DigestPromote copies between two registries through the proxy, signing in at the target with a Docker Registry connection', async () => {
    const source = named('registry', g.open.port);
    const target = named('registry', g.basic.port);
    const before = squid.entries().length;
    const run = await runTask('DigestPromote', {
      inputs: {
        source: `${source}/proxy/app@${amd64}`,
        target: `${target}/proxy/released:1.0`,
        sourceConnectionType: 'anonymous',
        targetConnectionType: 'dockerRegistry',
        targetDockerRegistryServiceConnection: 'basic-conn',
      },
      connections: {
        'basic-conn': {
          url: `https://${target}`,
          scheme: 'UsernamePassword',
          parameters: { username: g.user.username, password: g.user.password, registry: `https://${target}` },
        },
      },
      ...agent(),
    });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, amd64);
    assert.equal(sha256Hex(await inspectRawAsync(`${g.basic.host}/proxy/released:1.0`, g.basicAccess)), amd64);
    assert.deepEqual(
      tunnels(await logOf(before, source, target)),
      [`TCP_TUNNEL/200 ${source} ${PROXY_USER.username}`, `TCP_TUNNEL/200 ${target} ${PROXY_USER.username}`].sort(),
    );
    noSecretShown(run);
  });

  it('DigestPromote mode import with lockAfterPromote: Entra ID sign-in, the ACR token exchange and Resource Manager all go through the proxy', async () => {
    const before = squid.entries().length;
    const tokensBefore = prod.front.counts.entraToken + dev.front.counts.entraToken;
    const importsBefore = arm.counts.importImage;
    const run = await runTask('DigestPromote', {
      inputs: {
        mode: 'import',
        lockAfterPromote: 'true',
        source: `${dev.front.host}/team/app@${multi}`,
        target: `${prod.front.host}/release/app:1.0`,
        sourceConnectionType: 'azureRM',
        sourceAzureSubscription: 'dev-arm',
        targetConnectionType: 'azureRM',
        targetAzureSubscription: 'prod-arm',
      },
      connections: { 'dev-arm': armConnection(dev), 'prod-arm': armConnection(prod) },
      ...agent(),
      timeoutMs: 90_000,
    });
    succeeded(run);
    assert.equal(arm.counts.importImage, importsBefore + 1, 'Resource Manager imported the image');
    assert.equal((arm.imports[arm.imports.length - 1] as { source: { resourceId: string } }).source.resourceId, devId);
    assert.ok(prod.front.counts.entraToken + dev.front.counts.entraToken > tokensBefore, 'Entra ID issued tokens');
    assert.equal(sha256Hex(await inspectRawAsync(`${prod.registry.host}/release/app:1.0`, prod.directAccess)), multi);
    assert.equal(prod.front.manifestAttributes('release/app', multi)?.writeEnabled, false, 'locked after the import');
    const hosts = [
      new URL(arm.url).host,
      named('login', portOf(prod.front.host)),
      named('login', portOf(dev.front.host)),
      prod.front.host,
    ];
    const seen = tunnels(await logOf(before, ...hosts));
    for (const host of hosts) {
      assert.ok(
        seen.includes(`TCP_TUNNEL/200 ${host} ${PROXY_USER.username}`),
        `${host} through the proxy: ${seen.join(', ')}`,
      );
    }
    assert.ok(!visibleOutput(run).includes(prod.secretApp.clientSecret));
    noSecretShown(run);
  });

  it('DigestLock locks on an ACR through the proxy (Entra ID sign-in, token exchange, /acr/v1)', async () => {
    const before = squid.entries().length;
    const run = await runTask('DigestLock', {
      inputs: {
        image: `${prod.front.host}/team/web:2.0`,
        expectedDigest: web,
        connectionType: 'azureRM',
        azureSubscription: 'prod-arm',
      },
      connections: { 'prod-arm': armConnection(prod) },
      ...agent(),
    });
    succeeded(run);
    assert.deepEqual(run.outputs, { IMAGE_DIGEST: web, IMAGE_LOCKED: 'true' });
    assert.deepEqual(prod.front.tagAttributes('team/web', '2.0'), {
      writeEnabled: false,
      deleteEnabled: false,
      readEnabled: true,
      listEnabled: true,
    });
    assert.deepEqual(
      tunnels(await logOf(before, prod.front.host, named('login', portOf(prod.front.host)))),
      [
        `TCP_TUNNEL/200 ${prod.front.host} ${PROXY_USER.username}`,
        `TCP_TUNNEL/200 ${named('login', portOf(prod.front.host))} ${PROXY_USER.username}`,
      ].sort(),
    );
    noSecretShown(run);
  });

  it('DigestCapture signs in with workload identity federation through the proxy: the Azure DevOps OIDC token, then Entra ID, then the registry', async () => {
    const oidc = named('oidc', portOf(prod.front.host));
    const before = squid.entries().length;
    prod.front.resetCounts();
    const run = await runTask('DigestCapture', {
      inputs: { image: `${prod.front.host}/team/web:2.0`, connectionType: 'azureRM', azureSubscription: 'wif' },
      connections: {
        wif: {
          id: prod.federatedApp.serviceConnection,
          scheme: 'WorkloadIdentityFederation',
          parameters: { tenantid: prod.tenantId, serviceprincipalid: prod.federatedApp.clientId },
          data: { environmentAuthorityUrl: `https://${named('login', portOf(prod.front.host))}/` },
        },
      },
      collection: { accessToken: prod.front.systemAccessToken },
      variables: { 'System.OidcRequestUri': `https://${oidc}/oidc` },
      ...agent(),
    });
    succeeded(run);
    assert.equal(run.outputs.IMAGE_DIGEST, web);
    assert.ok(prod.front.counts.oidc > 0 && prod.front.counts.entraToken > 0);
    assert.deepEqual(
      tunnels(await logOf(before, oidc, prod.front.host, named('login', portOf(prod.front.host)))),
      [
        `TCP_TUNNEL/200 ${named('login', portOf(prod.front.host))} ${PROXY_USER.username}`,
        `TCP_TUNNEL/200 ${oidc} ${PROXY_USER.username}`,
        `TCP_TUNNEL/200 ${prod.front.host} ${PROXY_USER.username}`,
      ].sort(),
    );
    noSecretShown(run);
  });

  it('DigestEvidence reads the registry and asks Azure DevOps for the approvals through the proxy', async () => {
    const registry = named('registry', g.open.port);
    const job = ado.agentJob();
    ado.requests.length = 0;
    const before = squid.entries().length;
    const run = await runTask('DigestEvidence', {
      ...job,
      inputs: {
        image: `${registry}/proxy/app@${amd64}`,
        connectionType: 'anonymous',
        environment: 'prod',
        scanStatus: 'passed',
        approver: 'auto',
      },
      ...agent(),
    });
    succeeded(run);
    assert.ok(
      ado.requests.some((r) => r.path.endsWith('/_apis/pipelines/approvals')),
      'Azure DevOps was asked',
    );
    const collection = new URL(ado.collectionUri).host;
    assert.deepEqual(
      tunnels(await logOf(before, collection, registry)),
      [
        `TCP_TUNNEL/200 ${collection} ${PROXY_USER.username}`,
        `TCP_TUNNEL/200 ${registry} ${PROXY_USER.username}`,
      ].sort(),
    );
    assert.ok(!visibleOutput(run).includes(ado.token));
    noSecretShown(run);
  });
});
