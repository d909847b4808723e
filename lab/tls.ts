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
 * A key and a certificate signed by itself, not by the run's CA (so nothing trusts it unless told
 * to): key.pem and cert.pem in `dir`, for the subject and the `-addext` extensions given.
 */
export function selfSignedCertificate(
  dir: string,
  subject: string,
  extensions: readonly string[] = [],
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
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '2',
      '-subj',
      subject,
      ...addext,
    ],
    dir,
  );
  return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
}

export function makeCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=digest-release test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
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
