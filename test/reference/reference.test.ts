import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import {
  apiHost,
  digestReference,
  dockerHubAlias,
  formatReference,
  parseReference,
  registryHost,
} from '../../src/reference/reference';
import { parseDigest } from '../../src/reference/digest';

// Cases drawn from the distribution project's reference grammar (reference/regexp.go) and its
// normalisation (reference/normalize.go): what `docker pull` accepts and how it names it.

const D = `sha256:${'f'.repeat(64)}`;

const valid: [input: string, registry: string, repository: string, tag?: string, digest?: string][] = [
  ['nginx', 'docker.io', 'library/nginx'],
  ['nginx:1.27', 'docker.io', 'library/nginx', '1.27'],
  ['docker.io/nginx', 'docker.io', 'library/nginx'],
  ['docker.io/library/nginx:latest', 'docker.io', 'library/nginx', 'latest'],
  ['index.docker.io/nginx', 'docker.io', 'library/nginx'],
  ['bitnami/redis:7.2', 'docker.io', 'bitnami/redis', '7.2'],
  ['test_com', 'docker.io', 'library/test_com'],
  ['test.com:tag', 'docker.io', 'library/test.com', 'tag'],
  ['test.com:5000', 'docker.io', 'library/test.com', '5000'],
  ['test.com/repo:tag', 'test.com', 'repo', 'tag'],
  ['test:5000/repo', 'test:5000', 'repo'],
  ['test:5000/repo:tag', 'test:5000', 'repo', 'tag'],
  [`test:5000/repo@${D}`, 'test:5000', 'repo', undefined, D],
  [`test:5000/repo:tag@${D}`, 'test:5000', 'repo', 'tag', D],
  ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase'],
  ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com', 'bar/baz/quux'],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag'],
  ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com'],
  ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com'],
  ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080'],
  ['foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080'],
  ['192.168.1.1/repo', '192.168.1.1', 'repo'],
  ['192.168.1.1:5000/repo:1', '192.168.1.1:5000', 'repo', '1'],
  ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
  ['[2001:db8::1]:5000/repo', '[2001:db8::1]:5000', 'repo'],
  ['localhost/repo', 'localhost', 'repo'],
  ['localhost:5000/team/app:v1', 'localhost:5000', 'team/app', 'v1'],
  ['myacr.azurecr.io/team/app:build-42', 'myacr.azurecr.io', 'team/app', 'build-42'],
  ['a.b/c__d/e---f/g.h_i', 'a.b', 'c__d/e---f/g.h_i'],
  [`repo:${'t'.repeat(128)}`, 'docker.io', 'library/repo', 't'.repeat(128)],
  // The host is kept in lower case, the port as written; the repository keeps its own rule (lowercase only).
  ['MyAcr.AzureCR.io/team/app:Build-42', 'myacr.azurecr.io', 'team/app', 'Build-42'],
  ['LocalHost:5000/app', 'localhost:5000', 'app'],
  ['Foo/bar', 'foo', 'bar'],
  ['[2001:DB8::1]:5000/repo', '[2001:db8::1]:5000', 'repo'],
  ['INDEX.DOCKER.IO/nginx', 'docker.io', 'library/nginx'],
];

const invalid: [input: string, fragment: string][] = [
  ['', 'empty'],
  ['   ', 'empty'],
  [':justtag', 'repository name is missing'],
  [`@${D}`, 'repository name is missing'],
  [`repo@sha256:${'f'.repeat(60)}`, 'digest part'],
  ['validname@invaliddigest:ffff', 'digest part'],
  [`repo@sha256:${'F'.repeat(64)}`, 'digest part'],
  ['Uppercase:tag', 'must be lowercase'],
  ['test:5000/Uppercase/lowercase:tag', 'must be lowercase'],
  ['aa/asdf$$^/aa', 'asdf$$^'],
  ['-foo/bar', '"-foo"'],
  ['foo/bar-', '"bar-"'],
  ['foo//bar', 'empty component'],
  ['foo/bar/', 'empty component'],
  ['repo:-tag', 'tag "-tag"'],
  [`repo:${'t'.repeat(129)}`, '129 characters'],
  [`${'a'.repeat(256)}`, 'at most 255'],
  ['f'.repeat(64), 'image ID'],
  ['https://myacr.azurecr.io/app:1', 'no scheme'],
  ['my registry/app', 'white space'],
  ['-bad.host/app', 'registry "-bad.host"'],
];

describe('image references', () => {
  for (const [input, registry, repository, tag, digest] of valid) {
    it(`parses ${input.length > 60 ? `${input.slice(0, 57)}...` : input}`, () => {
      const ref = parseReference(input);
      assert.equal(ref.registry, registry);
      assert.equal(ref.repository, repository);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
    });
  }

  for (const [input, fragment] of invalid) {
    it(`refuses ${JSON.stringify(input.length > 40 ? `${input.slice(0, 37)}...` : input)}, naming ${fragment}`, () => {
      assert.throws(
        () => parseReference(input, 'input image'),
        (err: unknown) =>
          isDigestReleaseError(err, 'INVALID_REFERENCE') &&
          err.message.includes(fragment) &&
          err.message.includes('input image'),
      );
    });
  }

  it('writes references back fully qualified, and pins by digest', () => {
    const ref = parseReference(`nginx:1.27@${D}`);
    assert.equal(formatReference(ref), `docker.io/library/nginx:1.27@${D}`);
    assert.equal(digestReference(ref, parseDigest(D)), `docker.io/library/nginx@${D}`);
  });

  it('keeps registry hosts in lower case, and names Docker Hub by one name', () => {
    assert.equal(registryHost('MyAcr.AzureCR.io:5000'), 'myacr.azurecr.io:5000');
    assert.equal(registryHost('Index.Docker.IO'), 'docker.io');
    // A reference reads only the legacy index name as Docker Hub; docker config keys use every name it goes by.
    assert.equal(registryHost('registry-1.docker.io'), 'registry-1.docker.io');
    for (const name of ['index.docker.io', 'Registry-1.Docker.io', 'registry.hub.docker.com', 'docker.io'])
      assert.equal(dockerHubAlias(name), 'docker.io');
    assert.equal(dockerHubAlias('GHCR.io'), 'ghcr.io');
  });

  it('sends Docker Hub API calls to registry-1.docker.io and others to their own host', () => {
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(apiHost('myacr.azurecr.io'), 'myacr.azurecr.io');
  });
});

describe('digests', () => {
  it('accepts sha256 with 64 lowercase hex characters', () => {
    assert.equal(parseDigest(` ${D} `), D);
  });

  const bad: [string, string][] = [
    [`sha256:${'F'.repeat(64)}`, 'lowercase'],
    [`sha256:${'f'.repeat(63)}`, '63 characters'],
    [`sha512:${'f'.repeat(128)}`, 'only sha256'],
    ['f'.repeat(64), 'lacks the "sha256:" prefix'],
    ['latest', 'a digest is'],
  ];
  for (const [value, fragment] of bad) {
    it(`refuses ${value.slice(0, 20)}..., saying ${fragment}`, () => {
      assert.throws(
        () => parseDigest(value, 'input expectedDigest'),
        (err: unknown) =>
          isDigestReleaseError(err, 'INVALID_DIGEST') &&
          err.message.includes(fragment) &&
          err.message.includes('input expectedDigest'),
      );
    });
  }
});
