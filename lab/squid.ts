import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './registry';
import { PROXY_ONLY_DOMAIN } from './tls';

// A real forward proxy for the tests: squid from Debian (installed by .ci/run), started on a free
// loopback port with a generated configuration. It resolves the names under PROXY_ONLY_DOMAIN
// itself (its hosts_file maps them to 127.0.0.1), so a task that reaches such a host can only have
// gone through it. With users, it asks for Basic proxy credentials (basic_ncsa_auth over an
// htpasswd file). Its access log is what tests read: one line per CONNECT tunnel (written when the
// tunnel closes) or forwarded request, with the status and the proxy user.

export interface SquidUser {
  readonly username: string;
  readonly password: string;
}

export interface SquidOptions {
  /** Require Basic proxy credentials of one of these users. */
  readonly users?: readonly SquidUser[];
  /** Host names under PROXY_ONLY_DOMAIN the proxy resolves to 127.0.0.1. */
  readonly hosts: readonly string[];
  /** Hosts the proxy refuses to connect to (403), whoever asks. */
  readonly deny?: readonly string[];
  /** Also listen for TLS (an https:// proxy) with this certificate and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface SquidEntry {
  /** TCP_TUNNEL/200, TCP_DENIED/407, TCP_MISS/200, ... */
  readonly status: string;
  readonly method: string;
  /** host:port for CONNECT, the URL for a forwarded request. */
  readonly target: string;
  /** The proxy user, or "-". */
  readonly user: string;
}

export interface RunningSquid {
  /** http://127.0.0.1:<port>: what the agent is configured with. */
  readonly url: string;
  /** https://localhost:<port> when started with tls. */
  readonly tlsUrl: string | undefined;
  /** The access log so far. */
  entries(): SquidEntry[];
  /** Waits (up to a few seconds) until `done` accepts the log's entries; the entries then. */
  waitFor(done: (entries: readonly SquidEntry[]) => boolean): Promise<SquidEntry[]>;
  stop(): void;
}

const running = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

function squidBinary(): string {
  for (const path of ['/usr/sbin/squid', '/usr/local/sbin/squid']) if (existsSync(path)) return path;
  return 'squid';
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startSquid(options: SquidOptions): Promise<RunningSquid> {
  for (const host of options.hosts)
    if (!host.endsWith(`.${PROXY_ONLY_DOMAIN}`)) throw new Error(`${host} is not under ${PROXY_ONLY_DOMAIN}`);
  // Squid started as root works as the proxy user: its folder must be its own, outside the run's private folder.
  const dir = mkdtempSync(join(tmpdir(), 'digest-release-squid-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const lines = [
    `http_port 127.0.0.1:${port}`,
    ...(options.tls
      ? [`https_port 127.0.0.1:${tlsPort} tls-cert=${join(dir, 'proxy.crt')} tls-key=${join(dir, 'proxy.key')}`]
      : []),
    `pid_filename ${join(dir, 'squid.pid')}`,
    'logformat digestrelease %Ss/%03>Hs %rm %ru %[un',
    `access_log stdio:${join(dir, 'access.log')} digestrelease`,
    `cache_log ${join(dir, 'cache.log')}`,
    'cache deny all',
    'cache_mem 8 MB',
    `coredump_dir ${dir}`,
    `hosts_file ${join(dir, 'hosts')}`,
    'pinger_enable off',
    'shutdown_lifetime 0 seconds',
    'logfile_rotate 0',
    'via off',
    'strip_query_terms off',
  ];
  writeFileSync(join(dir, 'hosts'), `127.0.0.1 ${options.hosts.join(' ')}\n`);
  if (options.tls) {
    writeFileSync(join(dir, 'proxy.crt'), readFileSync(options.tls.cert));
    writeFileSync(join(dir, 'proxy.key'), readFileSync(options.tls.key));
  }
  if (options.deny && options.deny.length > 0)
    lines.push(`acl denied dstdomain ${options.deny.join(' ')}`, 'http_access deny denied');
  if (options.users && options.users.length > 0) {
    const passwd = options.users
      .map((user) => execFileSync('htpasswd', ['-nbm', user.username, user.password], { encoding: 'utf8' }).trim())
      .join('\n');
    writeFileSync(join(dir, 'passwd'), `${passwd}\n`);
    lines.push(
      `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${join(dir, 'passwd')}`,
      'auth_param basic realm digest-release test proxy',
      'acl users proxy_auth REQUIRED',
      'http_access allow users',
    );
  } else {
    lines.push('http_access allow all');
  }
  lines.push('http_access deny all');
  writeFileSync(join(dir, 'squid.conf'), `${lines.join('\n')}\n`);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
    for (const file of [
      '',
      'hosts',
      'squid.conf',
      ...(options.users?.length ? ['passwd'] : []),
      ...(options.tls ? ['proxy.crt', 'proxy.key'] : []),
    ])
      chownSync(join(dir, file), uid, gid);
  }

  const child = spawn(squidBinary(), ['-N', '-f', join(dir, 'squid.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.set(child, dir);
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (spawnError)
      throw new Error(
        `squid could not be started (${spawnError.message}): install it (apt-get install squid; .ci/run does)`,
      );
    if (child.exitCode !== null)
      throw new Error(`squid exited (${child.exitCode}): ${stderr}${readIfThere(join(dir, 'cache.log'))}`);
    if ((await accepting(port)) && (tlsPort === undefined || (await accepting(tlsPort)))) break;
    if (Date.now() > deadline)
      throw new Error(`squid did not start on port ${port}: ${stderr}${readIfThere(join(dir, 'cache.log'))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const entries = (): SquidEntry[] =>
    readIfThere(join(dir, 'access.log'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [status = '', method = '', target = '', user = ''] = line.split(' ');
        return { status, method, target, user };
      })
      // The start-up probe's connections, closed without a request.
      .filter((entry) => entry.method !== '-');
  return {
    url: `http://127.0.0.1:${port}`,
    tlsUrl: tlsPort === undefined ? undefined : `https://localhost:${tlsPort}`,
    entries,
    async waitFor(done) {
      const until = Date.now() + 5_000;
      for (;;) {
        const now = entries();
        if (done(now) || Date.now() > until) return now;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop() {
      child.kill('SIGTERM');
      running.delete(child);
      // Its folder goes now: the test process may end before squid has.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
