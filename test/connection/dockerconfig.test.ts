import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialFromDockerConfig, dockerConfigPath, normaliseAuthKey } from '../../src/connection/dockerconfig';
import { isDigestReleaseError } from '../../src/errors';

describe('docker config.json credentials', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dockerconfig-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (doc: unknown): string => {
    const path = join(dir, 'config.json');
    writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return path;
  };
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('goes anonymous without a config, and refuses one that is a named pipe or too large without reading it', () => {
    assert.equal(credentialFromDockerConfig('myacr.azurecr.io', join(dir, 'none.json')).credential.kind, 'anonymous');
    const fifo = join(dir, 'config.json');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    assert.throws(
      () => credentialFromDockerConfig('myacr.azurecr.io', fifo),
      (err: unknown) =>
        isDigestReleaseError(err, 'CREDENTIALS') &&
        err.message ===
          `The docker config ${fifo}: it is a named pipe, not a regular file; only regular files are read. Fix or remove it (DOCKER_CONFIG names its folder), or set connectionType to dockerRegistry or anonymous.`,
    );
    rmSync(fifo);
    writeFileSync(fifo, '');
    truncateSync(fifo, 4 * 1024 * 1024 + 1);
    assert.throws(
      () => credentialFromDockerConfig('myacr.azurecr.io', fifo),
      (err: unknown) =>
        isDigestReleaseError(err, 'CREDENTIALS') &&
        /over the 4 MiB limit for a docker config; it was not read\./.test(err.message),
    );
  });

  it('finds the file at $DOCKER_CONFIG, else ~/.docker', () => {
    assert.equal(
      dockerConfigPath({ DOCKER_CONFIG: '/agent/_temp/DockerConfig_1' }),
      '/agent/_temp/DockerConfig_1/config.json',
    );
    assert.match(dockerConfigPath({}), /\.docker\/config\.json$/);
  });

  it('normalises auths keys with schemes, paths and Docker Hub aliases', () => {
    assert.equal(normaliseAuthKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normaliseAuthKey('registry-1.docker.io'), 'docker.io');
    assert.equal(normaliseAuthKey('https://MyAcr.azurecr.io'), 'myacr.azurecr.io');
    assert.equal(normaliseAuthKey('localhost:5000/v2/'), 'localhost:5000');
  });

  it('reads the base64 auth that docker login writes, passwords with colons included', () => {
    const path = write({ auths: { 'https://myacr.azurecr.io': { auth: b64('bot:pa:ss') } } });
    const { credential } = credentialFromDockerConfig('myacr.azurecr.io', path);
    assert.deepEqual({ ...credential, source: '' }, { kind: 'basic', username: 'bot', password: 'pa:ss', source: '' });
    assert.ok(credential.source.includes(path));
  });

  it('reads Docker Hub entries for docker.io', () => {
    const path = write({ auths: { 'https://index.docker.io/v1/': { auth: b64('me:tok') } } });
    assert.equal(credentialFromDockerConfig('docker.io', path).credential.kind, 'basic');
  });

  it('reads an identity token as a refresh token', () => {
    const path = write({
      auths: { 'myacr.azurecr.io': { auth: b64('00000000-0000-0000-0000-000000000000:'), identitytoken: 'refresh' } },
    });
    const { credential } = credentialFromDockerConfig('myacr.azurecr.io', path);
    assert.equal(credential.kind, 'refreshToken');
  });

  it('falls back to anonymous when the file or the entry is missing', () => {
    assert.equal(credentialFromDockerConfig('r.example', join(dir, 'none.json')).credential.kind, 'anonymous');
    const path = write({ auths: { 'other.example': { auth: b64('a:b') } } });
    assert.equal(credentialFromDockerConfig('r.example', path).credential.kind, 'anonymous');
  });

  it('says so when only a credential helper holds the registry, and does not run it', () => {
    const path = write({ auths: {}, credHelpers: { 'r.example': 'ecr-login' } });
    const lookup = credentialFromDockerConfig('r.example', path);
    assert.equal(lookup.credential.kind, 'anonymous');
    assert.equal(lookup.notes.length, 1);
    assert.match(lookup.notes[0]!, /docker-credential-ecr-login/);
  });

  it('fails on a file that is not JSON or an auth that is not user:password', () => {
    assert.throws(
      () => credentialFromDockerConfig('r.example', write('{nope')),
      (err: unknown) => isDigestReleaseError(err, 'CREDENTIALS') && /not valid JSON/.test(err.message),
    );
    const path = write({ auths: { 'r.example': { auth: b64('nocolon') } } });
    assert.throws(
      () => credentialFromDockerConfig('r.example', path),
      (err: unknown) => isDigestReleaseError(err, 'CREDENTIALS') && /user:password/.test(err.message),
    );
  });
});
