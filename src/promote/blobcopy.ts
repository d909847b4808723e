import { Digest } from '../reference/digest';
import { headBlob, mountBlob, openBlob, uploadBlob } from '../registry/blobs';
import { RegistryClient } from '../registry/client';
import { Descriptor } from '../registry/manifest-parse';

// One blob from the source repository to the target: skip it when the target has it, mount it when
// both are on one registry, else stream it through (checked against its digest on the way).

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

export interface BlobEnds {
  readonly source: RegistryClient;
  readonly sourceRepository: string;
  readonly target: RegistryClient;
  readonly targetRepository: string;
}

export function sameRegistry(ends: BlobEnds): boolean {
  return ends.source.registry.toLowerCase() === ends.target.registry.toLowerCase();
}

export async function copyBlob(ends: BlobEnds, blob: Descriptor, onRetry?: (digest: Digest, attempt: number, err: unknown) => void): Promise<BlobOutcome> {
  const present = await headBlob(ends.target, ends.targetRepository, blob.digest);
  if (present && present.size === blob.size) return 'present';
  if (sameRegistry(ends) && ends.sourceRepository !== ends.targetRepository) {
    if (await mountBlob(ends.target, ends.targetRepository, blob.digest, ends.sourceRepository)) return 'mounted';
  }
  // One stall budget for the whole copy: the target's requests and every read of the source.
  await uploadBlob(ends.target, ends.targetRepository, blob.digest, blob.size, (stalls) => openBlob(ends.source, ends.sourceRepository, blob.digest, blob.size, { stalls }), {
    onRetry: (attempt, err) => onRetry?.(blob.digest, attempt, err),
  });
  return 'uploaded';
}
