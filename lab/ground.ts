import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RegistryAccess } from './images';
import { OciLayout, push } from './images';
import type { RunningRegistry } from './registry';
import { startRegistry } from './registry';
import type { TestCertificates } from './tls';

// The test ground shared by every test file in one mocha run: two real registries (open, and
// behind htpasswd Basic auth), both TLS with the run's CA, and an OCI layout of real images.
// Made once, on first use.

export interface TestGround {
  readonly dir: string;
  readonly certs: TestCertificates;
  readonly open: RunningRegistry;
  readonly basic: RunningRegistry;
  readonly user: { readonly username: string; readonly password: string };
  readonly openAccess: RegistryAccess;
  readonly basicAccess: RegistryAccess;
  readonly layout: OciLayout;
  /** The agent host's own environment every task inherits: trust in the run's CA (NODE_EXTRA_CA_CERTS, as a self-hosted agent's .env sets it). */
  readonly hostEnv: Record<string, string>;
}

export function testDir(): string {
  const dir = process.env.DIGEST_RELEASE_TEST_DIR;
  if (!dir)
    throw new Error('DIGEST_RELEASE_TEST_DIR is not set: run the tests with npm test, which makes the CA for the run');
  return dir;
}

export function runCertificates(): TestCertificates {
  const tls = join(testDir(), 'tls');
  return {
    caFile: join(tls, 'ca.crt'),
    certDir: join(tls, 'certs.d'),
    serverCert: join(tls, 'server.crt'),
    serverKey: join(tls, 'server.key'),
  };
}

let ground: Promise<TestGround> | undefined;

export function testGround(): Promise<TestGround> {
  ground ??= makeGround();
  return ground;
}

async function makeGround(): Promise<TestGround> {
  const dir = testDir();
  const certs = runCertificates();
  const user = { username: 'release-bot', password: 'Pa55-w0rd;not=for:logs' };
  const [open, basic] = await Promise.all([
    startRegistry(join(dir, 'registry-open'), certs),
    startRegistry(join(dir, 'registry-basic'), certs, { htpasswd: user }),
  ]);
  mkdirSync(join(dir, 'images'), { recursive: true });
  const layout = new OciLayout(join(dir, 'images', 'layout'));
  layout.image('amd64', 'amd64', 'payload for amd64\n');
  layout.image('arm64', 'arm64', 'payload for arm64\n');
  layout.index('multi', [
    { tag: 'amd64', architecture: 'amd64' },
    { tag: 'arm64', architecture: 'arm64', variant: 'v8' },
  ]);
  return {
    dir,
    certs,
    open,
    basic,
    user,
    openAccess: { certDir: certs.certDir },
    basicAccess: { certDir: certs.certDir, creds: `${user.username}:${user.password}` },
    layout,
    hostEnv: { NODE_EXTRA_CA_CERTS: certs.caFile },
  };
}

/** Pushes the ground's images under `repository` on a registry: oci, v2s2 and a two-platform index. */
export function pushSamples(
  g: TestGround,
  registry: RunningRegistry,
  access: RegistryAccess,
  repository: string,
): void {
  push(g.layout, 'amd64', `${registry.host}/${repository}:oci`, access);
  push(g.layout, 'amd64', `${registry.host}/${repository}:v2s2`, access, { format: 'v2s2' });
  push(g.layout, 'multi', `${registry.host}/${repository}:multi`, access, { all: true });
}
