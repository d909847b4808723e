import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestCertificates } from './tls';

// A real registry: the CNCF distribution server from Debian's docker-registry package, with TLS
// and http.relativeurls, optionally behind htpasswd Basic auth. Started on a free loopback port
// and stopped when the test process exits.

export interface RegistryOptions {
  /** Require Basic auth with this user. */
  readonly htpasswd?: { readonly username: string; readonly password: string };
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, as image references name it. */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** The filesystem driver's rootdirectory: the registry's own storage (the ACR front lists manifests from it). */
  readonly storage: string;
  stop(): void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** GET with the run's CA given explicitly, so callers need not trust it process-wide (the demo, the benchmarks). */
function probe(url: string, caFile: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { ca: readFileSync(caFile), timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

export async function startRegistry(
  dir: string,
  certs: TestCertificates,
  options: RegistryOptions = {},
): Promise<RunningRegistry> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  let auth = '';
  if (options.htpasswd) {
    const line = execFileSync('htpasswd', ['-Bbn', options.htpasswd.username, options.htpasswd.password], {
      encoding: 'utf8',
    }).trim();
    writeFileSync(join(dir, 'htpasswd'), `${line}\n`);
    auth = `auth:\n  htpasswd:\n    realm: digest-release-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config =
    'version: 0.1\n' +
    'log:\n  level: error\n  accesslog:\n    disabled: true\n' +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: 127.0.0.1:${port}\n  relativeurls: true\n  tls:\n    certificate: ${certs.serverCert}\n    key: ${certs.serverKey}\n` +
    auth;
  writeFileSync(join(dir, 'config.yml'), config);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr}`);
    const status = await probe(`${url}/v2/`, certs.caFile);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start on ${url}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    storage: join(dir, 'data'),
    stop() {
      child.kill('SIGTERM');
      running.delete(child);
    },
  };
}
