import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRegistry } from '../registry';
import { TestCertificates } from '../tls';
import { RunningAcrFront, startAcrFront } from './front';

// The ACR test ground: a real distribution registry with the ACR front (front.ts) before it, the
// admin user skopeo signs in as, and one Entra ID app registration of each kind.

/** A real registry with an ACR front before it, an app registration of each kind, and skopeo access. */
export interface AcrGround {
  readonly registry: { readonly host: string; readonly url: string; stop(): void };
  readonly front: RunningAcrFront;
  /** skopeo through the front, signed in as the admin user. */
  readonly access: { readonly certDir: string; readonly creds: string };
  /** skopeo straight to the registry behind the front, bypassing ACR's rules. */
  readonly directAccess: { readonly certDir: string };
  readonly tenantId: string;
  readonly secretApp: { readonly clientId: string; readonly clientSecret: string };
  readonly certificateApp: { readonly clientId: string; readonly pem: string };
  readonly federatedApp: { readonly clientId: string; readonly serviceConnection: string };
}

export async function startAcrGround(
  dir: string,
  certs: TestCertificates,
  options: { readonly resourceManager?: string; readonly acceptResourceManagerTokens?: boolean; readonly name?: string; readonly address?: () => string } = {},
): Promise<AcrGround> {
  const registry = await startRegistry(join(dir, 'registry-acr'), certs);
  const admin = { username: 'acradmin', password: 'Adm1n-pa55/for:skopeo' };
  const front = await startAcrFront({
    upstream: registry.url,
    upstreamStorage: registry.storage,
    certs,
    admin,
    ...(options.resourceManager ? { resourceManager: options.resourceManager } : {}),
    ...(options.acceptResourceManagerTokens === undefined ? {} : { acceptResourceManagerTokens: options.acceptResourceManagerTokens }),
    ...(options.name ? { name: options.name } : {}),
    ...(options.address ? { address: options.address } : {}),
  });
  const tenantId = '72f988bf-0000-4000-8000-00000000a1a1';
  const secretApp = { clientId: '11111111-2222-4333-8444-555555555555', clientSecret: 'Sp-s3cret~value.not_for_logs' };
  const certDir = join(dir, 'acr-app-cert');
  mkdirSync(certDir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=digest-release-spn'], {
    cwd: certDir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const certPem = readFileSync(join(certDir, 'cert.pem'), 'utf8');
  const certificateApp = { clientId: '22222222-3333-4444-8555-666666666666', pem: `${readFileSync(join(certDir, 'key.pem'), 'utf8')}${certPem}` };
  const federatedApp = { clientId: '33333333-4444-4555-8666-777777777777', serviceConnection: '5d0c6f0e-2b8a-4e61-9a57-0c3f1d2e4b6a' };
  front.addApp({ tenantId, ...secretApp });
  front.addApp({ tenantId, clientId: certificateApp.clientId, certificate: certPem });
  front.addApp({ tenantId, clientId: federatedApp.clientId, federatedServiceConnection: federatedApp.serviceConnection });
  return {
    registry,
    front,
    access: { certDir: certs.certDir, creds: `${admin.username}:${admin.password}` },
    directAccess: { certDir: certs.certDir },
    tenantId,
    secretApp,
    certificateApp,
    federatedApp,
  };
}
