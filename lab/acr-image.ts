import { join } from 'node:path';
import { AcrGround, startAcrGround } from './acr/ground';
import { TestGround } from './ground';
import { inspectRawAsync, pushAsync, sha256Hex } from './images';

// The set-up of the suites that sign in to ACR: an ACR ground (a real registry with the ACR front
// before it) and the sample amd64 image pushed through the front under one repository:tag.

export interface AcrWithImage {
  readonly acr: AcrGround;
  /** front-host/repository:tag */
  readonly image: string;
  readonly digest: string;
}

export async function acrWithImage(g: TestGround, folder: string, repositoryTag: string, options: Parameters<typeof startAcrGround>[2] = {}): Promise<AcrWithImage> {
  const acr = await startAcrGround(join(g.dir, folder), g.certs, options);
  const image = `${acr.front.host}/${repositoryTag}`;
  await pushAsync(g.layout, 'amd64', image, acr.access);
  return { acr, image, digest: sha256Hex(await inspectRawAsync(image, acr.access)) };
}
