import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A certificate authority made per test run, and a server certificate it signs for localhost,
// 127.0.0.1 and *.corp.test, the names only the test proxy resolves (lab/squid.ts). Tasks
// trust the CA through NODE_EXTRA_CA_CERTS (or the agent's Agent.CAInfo), skopeo through a cert dir.

/** A domain no resolver knows: hosts under it are reached only through the test proxy, which maps them to 127.0.0.1. */
export const PROXY_ONLY_DOMAIN = 'corp.test';

export interface TestCertificates {
  /** PEM of the CA, for NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  /** A folder holding ca.crt, for skopeo's --cert-dir / --src-cert-dir / --dest-cert-dir. */
  readonly certDir: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A key and a certificate signed by itself (the run's CA, or one nothing trusts unless told to):
 * `names` in `dir` (key.pem and cert.pem unless given), for the subject and the `-addext`
 * extensions given.
 */
export function selfSignedCertificate(
  dir: string,
  subject: string,
  extensions: readonly string[] = [],
  names: { readonly key: string; readonly cert: string } = { key: 'key.pem', cert: 'cert.pem' },
): { readonly certFile: string; readonly keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const addext = extensions.flatMap((extension) => ['-addext', extension]);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      names.key,
      '-out',
      names.cert,
      '-days',
      '2',
      '-subj',
      subject,
      ...addext,
    ],
    dir,
  );
  return { certFile: join(dir, names.cert), keyFile: join(dir, names.key) };
}

export function makeCertificates(dir: string): TestCertificates {
  selfSignedCertificate(
    dir,
    '/CN=digest-release test CA',
    ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    { key: 'ca.key', cert: 'ca.crt' },
  );
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'],
    dir,
  );
  writeFileSync(
    join(dir, 'server.ext'),
    `subjectAltName=DNS:localhost,DNS:*.${PROXY_ONLY_DOMAIN},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  const certDir = join(dir, 'certs.d');
  mkdirSync(certDir, { recursive: true });
  execFileSync('cp', [join(dir, 'ca.crt'), join(certDir, 'ca.crt')]);
  return {
    caFile: join(dir, 'ca.crt'),
    certDir,
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
  };
}
