import assert from 'node:assert/strict';
import {
  bypassSubject,
  bypassesProxy,
  compileBypassList,
  isLinkLocalHost,
  isLoopbackHost,
} from '../../src/http/bypass';

// Which hosts skip the agent's proxy: the agent's own rule (AgentWebProxy.IsBypassed: loopback
// always, the bypass list's expressions against scheme://host[:port]), plus link-local addresses.

describe('proxy bypass (http/bypass.ts)', () => {
  const list = (...entries: unknown[]) => compileBypassList(entries).patterns;

  it('matches the expressions against scheme://host, with :port only when it is not the default, ignoring case', () => {
    assert.equal(bypassSubject(new URL('https://Registry.Corp.Example/v2/')), 'https://registry.corp.example');
    assert.equal(bypassSubject(new URL('https://registry.corp.example:443/v2/')), 'https://registry.corp.example');
    assert.equal(
      bypassSubject(new URL('https://registry.corp.example:5000/v2/x')),
      'https://registry.corp.example:5000',
    );
    assert.equal(bypassSubject(new URL('http://[fd00::2]:8080/')), 'http://[fd00::2]:8080');
    const patterns = list('corp\\.example$', 'GITHUB\\.com');
    assert.equal(bypassesProxy(new URL('https://registry.corp.example/v2/'), patterns), true);
    assert.equal(
      bypassesProxy(new URL('https://registry.corp.example:5000/v2/'), patterns),
      false,
      'anchored at the end, the port is part of what is matched',
    );
    assert.equal(bypassesProxy(new URL('https://api.github.com/'), patterns), true, 'case does not matter');
    assert.equal(
      bypassesProxy(new URL('https://myacr.azurecr.io/v2/corp.example/app/manifests/1'), patterns),
      false,
      'the path is never matched',
    );
  });

  it('never proxies loopback or link-local hosts, decided by the name alone', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '[::1]', '[::ffff:127.0.0.1]']) {
      assert.equal(isLoopbackHost(new URL(`https://${host}:5000/`).hostname), true, host);
    }
    for (const host of ['169.254.169.254', '[fe80::1]', '[::ffff:169.254.169.254]']) {
      assert.equal(isLinkLocalHost(new URL(`http://${host}/`).hostname), true, host);
    }
    for (const host of [
      'localhost.corp.example',
      '128.0.0.1',
      '10.0.0.1',
      '[fd00::2]',
      'registry.corp.example',
      '169.255.0.1',
    ]) {
      const url = new URL(`https://${host}/`);
      assert.equal(isLoopbackHost(url.hostname) || isLinkLocalHost(url.hostname), false, host);
      assert.equal(bypassesProxy(url, []), false, host);
    }
    assert.equal(
      bypassesProxy(new URL('http://169.254.169.254/metadata/identity/oauth2/token'), []),
      true,
      'the instance metadata service',
    );
  });

  it('compiles the list as the agent does: blank entries skipped, entries trimmed, what is not an expression set aside', () => {
    const compiled = compileBypassList(['  ', ' github\\.com ', '(unclosed', 42, '']);
    assert.deepEqual(
      compiled.patterns.map((p) => p.source),
      ['github\\.com'],
    );
    assert.deepEqual(compiled.invalid, ['(unclosed', '42']);
  });
});
