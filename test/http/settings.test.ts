import assert from 'node:assert/strict';
import { DigestReleaseError } from '../../src/errors';
import { Network } from '../../src/http/network';
import { describeNetwork, parseNetworkSettings } from '../../src/http/settings';

// The agent's network settings as task-lib hands them (Agent.ProxyUrl, Agent.ProxyUsername,
// Agent.ProxyPassword, Agent.ProxyBypassList, Agent.CAInfo, Agent.SkipCertValidation), turned into
// NetworkSettings once per run; what cannot be used is refused naming the variable.

function refused(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DigestReleaseError);
    assert.equal(err.code, 'NETWORK_SETTINGS');
    for (const fragment of fragments)
      assert.ok(err.message.includes(fragment), `message lacks "${fragment}": ${err.message}`);
    return true;
  });
}

describe('network settings from the agent (http/settings.ts)', () => {
  it("no proxy and no CA is a direct network with Node's own trust", () => {
    const { settings, warnings } = parseNetworkSettings({});
    assert.deepEqual(settings, { proxy: undefined, caFile: undefined, skipCertValidation: false });
    assert.deepEqual(warnings, []);
    assert.equal(describeNetwork(settings), undefined, 'nothing to say in the log');
    assert.equal(parseNetworkSettings({ proxyUrl: '  ', caFile: '' }).settings.proxy, undefined);
  });

  it('reads the proxy: its origin, credentials as given (untrimmed), the bypass list compiled', () => {
    const { settings, warnings } = parseNetworkSettings({
      proxyUrl: ' http://proxy.corp.example:3128/ignored/path ',
      proxyUsername: 'build bot',
      proxyPassword: ' pa55:word ',
      proxyBypassList: ['github\\.com', '(bad'],
      caFile: '/etc/ssl/corp-ca.pem',
      skipCertValidation: 'True',
    });
    assert.equal(settings.proxy?.url.href, 'http://proxy.corp.example:3128/');
    assert.equal(settings.proxy?.username, 'build bot');
    assert.equal(settings.proxy?.password, ' pa55:word ');
    assert.deepEqual(
      settings.proxy?.bypass.map((p) => p.source),
      ['github\\.com'],
    );
    assert.equal(settings.caFile, '/etc/ssl/corp-ca.pem');
    assert.equal(settings.skipCertValidation, true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Agent\.ProxyBypassList.*\(bad.*skipped/);
    const line = describeNetwork(settings)!;
    assert.match(
      line,
      /through the agent's proxy http:\/\/proxy\.corp\.example:3128 \(as build bot; 1 bypass pattern;/,
    );
    assert.match(line, /trusting the agent's CA file \/etc\/ssl\/corp-ca\.pem \(Agent\.CAInfo\)/);
    assert.match(line, /Agent\.SkipCertValidation/);
    assert.ok(!line.includes('pa55'), 'the password is never described');
  });

  it('sends proxy credentials only with both parts, as the agent does; credentials in the URL count when the agent has none', () => {
    const userOnly = parseNetworkSettings({ proxyUrl: 'http://proxy:8080', proxyUsername: 'bot' });
    assert.equal(userOnly.settings.proxy?.username, undefined);
    assert.match(userOnly.warnings[0]!, /"bot" has no password/);
    const inUrl = parseNetworkSettings({ proxyUrl: 'http://bot:p%40ss@proxy:8080' }).settings.proxy;
    assert.deepEqual([inUrl?.username, inUrl?.password, inUrl?.url.href], ['bot', 'p@ss', 'http://proxy:8080/']);
    const agentWins = parseNetworkSettings({
      proxyUrl: 'http://bot:url-pw@proxy:8080',
      proxyUsername: 'agent',
      proxyPassword: 'agent-pw',
    }).settings.proxy;
    assert.deepEqual([agentWins?.username, agentWins?.password], ['agent', 'agent-pw']);
    assert.equal(parseNetworkSettings({ skipCertValidation: 'false' }).settings.skipCertValidation, false);
  });

  it('refuses a proxy URL it cannot use, naming Agent.ProxyUrl and where the agent takes it from, never its password', () => {
    refused(
      () => parseNetworkSettings({ proxyUrl: 'proxy.corp.example:8080' }),
      'Agent.ProxyUrl',
      'proxy.corp.example:8080',
      'scheme',
      '--proxyurl',
    );
    refused(() => parseNetworkSettings({ proxyUrl: 'socks5://proxy:1080' }), 'socks5', 'HTTP proxies');
    refused(() => parseNetworkSettings({ proxyUrl: 'http://' }), 'not a URL');
    assert.throws(
      () => parseNetworkSettings({ proxyUrl: 'ftp://bot:s3cret@proxy' }),
      (err: unknown) =>
        err instanceof DigestReleaseError && !err.message.includes('s3cret') && err.message.includes('bot:***@'),
    );
  });

  it('routes as the settings say: direct without a proxy, by tunnel for https, forwarded for http, loopback and bypassed hosts direct', () => {
    const direct = new Network(parseNetworkSettings({}).settings);
    assert.equal(direct.route(new URL('https://registry.example/')).kind, 'direct');
    const proxied = new Network(
      parseNetworkSettings({ proxyUrl: 'http://proxy:3128', proxyBypassList: ['internal\\.example'] }).settings,
    );
    assert.equal(proxied.route(new URL('https://registry.example/')).kind, 'tunnel');
    assert.equal(proxied.route(new URL('http://tfs.example:8080/tfs/')).kind, 'forward');
    assert.equal(proxied.route(new URL('https://registry.internal.example/')).kind, 'direct');
    assert.equal(proxied.route(new URL('https://localhost:5000/')).kind, 'direct');
    assert.equal(proxied.proxyFor(new URL('https://registry.example/'))?.url.origin, 'http://proxy:3128');
  });
});
