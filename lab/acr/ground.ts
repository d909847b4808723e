import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningArmFront } from '../arm-front';
import type { TestGround } from '../ground';
import { inspectRawAsync, pushAsync, sha256Hex } from '../images';
import { startRegistry } from '../registry';
import type { TestCertificates } from '../tls';
import { selfSignedCertificate } from '../tls';
import type { AcrFrontOptions, RunningAcrFront } from './front';
import { startAcrFront } from './front';

// The ACR test ground: a real distribution registry with the ACR front (front.ts) before it, the
// admin user skopeo signs in as, and one Entra ID app registration of each kind. startAcrGround
// makes one anywhere (the demo); acrGroundFor sets one up for a suite on the shared test ground.

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
  /** Stops the front and the registry behind it. */
  close(): Promise<void>;
}

export type AcrGroundOptions = Pick<
  AcrFrontOptions,
  'resourceManager' | 'acceptResourceManagerTokens' | 'name' | 'address'
>;

export async function startAcrGround(
  dir: string,
  certs: TestCertificates,
  options: AcrGroundOptions = {},
): Promise<AcrGround> {
  const registry = await startRegistry(join(dir, 'registry-acr'), certs);
  const admin = { username: 'acradmin', password: 'Adm1n-pa55/for:skopeo' };
  const front = await startAcrFront({
    upstream: registry.url,
    upstreamStorage: registry.storage,
    certs,
    admin,
    ...(options.resourceManager ? { resourceManager: options.resourceManager } : {}),
    ...(options.acceptResourceManagerTokens === undefined
      ? {}
      : { acceptResourceManagerTokens: options.acceptResourceManagerTokens }),
    ...(options.name ? { name: options.name } : {}),
    ...(options.address ? { address: options.address } : {}),
  });
  const tenantId = '72f988bf-0000-4000-8000-00000000a1a1';
  const secretApp = { clientId: '11111111-2222-4333-8444-555555555555', clientSecret: 'Sp-s3cret~value.not_for_logs' };
  const appCert = selfSignedCertificate(join(dir, 'acr-app-cert'), '/CN=digest-release-spn');
  const certPem = readFileSync(appCert.certFile, 'utf8');
  const certificateApp = {
    clientId: '22222222-3333-4444-8555-666666666666',
    pem: `${readFileSync(appCert.keyFile, 'utf8')}${certPem}`,
  };
  const federatedApp = {
    clientId: '33333333-4444-4555-8666-777777777777',
    serviceConnection: '5d0c6f0e-2b8a-4e61-9a57-0c3f1d2e4b6a',
  };
  front.addApp({ tenantId, ...secretApp });
  front.addApp({ tenantId, clientId: certificateApp.clientId, certificate: certPem });
  front.addApp({
    tenantId,
    clientId: federatedApp.clientId,
    federatedServiceConnection: federatedApp.serviceConnection,
  });
  return {
    registry,
    front,
    access: { certDir: certs.certDir, creds: `${admin.username}:${admin.password}` },
    directAccess: { certDir: certs.certDir },
    tenantId,
    secretApp,
    certificateApp,
    federatedApp,
    close: async () => {
      await front.close();
      registry.stop();
    },
  };
}

export interface AcrGroundForOptions extends AcrGroundOptions {
  /**
   * Images pushed through the front as the admin user, in this order: `repository:tag` to the name
   * of an image in the test ground's layout (`amd64`, `arm64`).
   */
  readonly images?: Readonly<Record<string, string>>;
  /**
   * Registers the registry with this Resource Manager front under a name: the front then takes
   * Entra ID tokens for it, and it takes the front's tokens.
   */
  readonly arm?: {
    readonly front: RunningArmFront;
    readonly name: string;
    readonly resourceGroup: string;
    readonly subscriptionId: string;
  };
}

export interface SuiteAcr extends AcrGround {
  /** The digest of each pushed image, by `repository:tag`. */
  readonly digests: Readonly<Record<string, string>>;
  /** The registry's Resource Manager id, when options.arm registered it. */
  readonly armId?: string;
}

/** The ACR ground of a suite, in `folder` of the test ground, with its images pushed and its Resource Manager entry made. */
export async function acrGroundFor(
  g: TestGround,
  folder: string,
  options: AcrGroundForOptions = {},
): Promise<SuiteAcr> {
  const { images = {}, arm, ...ground } = options;
  const acr = await startAcrGround(join(g.dir, folder), g.certs, {
    ...(arm ? { resourceManager: arm.front.url } : {}),
    ...ground,
  });
  const digests: Record<string, string> = {};
  for (const [repositoryTag, image] of Object.entries(images)) {
    const reference = `${acr.front.host}/${repositoryTag}`;
    await pushAsync(g.layout, image, reference, acr.access);
    digests[repositoryTag] = sha256Hex(await inspectRawAsync(reference, acr.access));
  }
  if (!arm) return { ...acr, digests };
  arm.front.addIssuer(acr.front.entraTokenClaims);
  const armId = arm.front.addRegistry({
    name: arm.name,
    resourceGroup: arm.resourceGroup,
    subscriptionId: arm.subscriptionId,
    loginServer: acr.front.host,
    upstreamHost: acr.registry.host,
  });
  return { ...acr, digests, armId };
}
