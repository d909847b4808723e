import type { ArmClient, ArmRegistry } from '../acr/arm';
import type { ImportMode, ImportSource } from '../acr/import-image';
import { describeSource, runImport } from '../acr/import-image';
import { DigestReleaseError, isDigestReleaseError } from '../errors';
import { headBlob } from '../registry/blobs';
import { listReferrers } from '../registry/referrers';
import { listTags } from '../registry/tag-list';
import { apiHost } from '../reference/reference';
import { planCopy } from './plan';
import type { PromoteLog, PromoteRequest, PromoteResult } from './promote';
import { promote } from './promote';
import { checkTags } from './tag-writes';
import { Written } from './written';
import { planTags } from './tag-plan';

// A promotion by ACR server-side import. The order keeps the promise of a copy: the target's tags
// are checked first (a conflict fails before anything is imported); the import copies the digest
// into the target repository without tags; the result is read back through the registry API,
// every manifest re-hashed and every blob present, before it is trusted; then the copy path runs
// on what is now there: it moves only what the import does not carry (referrers), checks again
// and writes the tags. So a failed or wrong import never leaves a target tag on unverified bytes.

export interface ArmScope {
  readonly arm: ArmClient;
  readonly subscriptionId: string;
  /** The input that named the connection, for messages. */
  readonly inputName: string;
}

/** How the import may read a source that is not an ACR it can name by resource id. */
export type SourceAccess =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** The source's sign-in cannot be handed to the import (an Entra ID or identity token); why, for the message. */
  | { readonly kind: 'unusable'; readonly why: string };

export interface ImportPromoteRequest extends PromoteRequest {
  /** The target's connection: finds the target registry and runs the import. */
  readonly targetScope: ArmScope;
  /** More subscriptions to look for the source ACR in (the source's own azureRM connection). */
  readonly sourceScopes: readonly ArmScope[];
  readonly sourceAccess: SourceAccess;
  /** Input names for messages. */
  readonly targetInput: string;
  readonly pollMs?: number;
}

export interface ImportPromoteResult extends PromoteResult {
  readonly targetResource: ArmRegistry;
  readonly importedFrom: string;
  readonly importMode: ImportMode;
  /** Manifests and blobs read back at the target after the import, before anything was tagged. */
  readonly verifiedManifests: number;
  readonly verifiedBlobs: number;
  /** Referrers of the digest the target listed right after the import (what the import carried, or had already). */
  readonly referrersAfterImport: number;
}

const sameHost = (registry: string, loginServer: string): boolean =>
  apiHost(registry).toLowerCase() === loginServer.toLowerCase() || registry.toLowerCase() === loginServer.toLowerCase();

export async function importPromotion(request: ImportPromoteRequest, log: PromoteLog): Promise<ImportPromoteResult> {
  const targetName = `${request.target.registry}/${request.targetRepository}`;
  const { targetScope } = request;

  // 1. The target must be an ACR the connection can see: that is the resource the import runs on.
  const registries = await targetScope.arm.listRegistries(targetScope.subscriptionId);
  const targetResource = registries.find((r) => sameHost(request.target.registry, r.loginServer));
  if (!targetResource) {
    const seen =
      registries.length > 0
        ? `it sees ${registries
            .map((r) => r.loginServer)
            .sort()
            .join(', ')}`
        : 'it sees none';
    throw new DigestReleaseError(
      'REGISTRY_NOT_FOUND',
      `The input ${request.targetInput} names the registry ${request.target.registry}, which is not an Azure Container Registry in the subscription ${targetScope.subscriptionId} of ${targetScope.arm.description} (${seen}). ` +
        "mode: import runs on the target ACR's Azure resource. Check the registry name, give the connection's identity a role on the registry (Reader at least, Contributor to import), or use mode: copy, which promotes into any registry.",
    );
  }
  log.info(`Target registry resource: ${targetResource.id}.`);

  // 2. Tags first: a tag that points at other bytes fails before anything is imported.
  const existing = request.semverTags ? await listTags(request.target, request.targetRepository) : [];
  await checkTags(
    request,
    planTags(request.tags, request.semverTags, existing),
    targetName,
    'before-copy',
    new Written(targetName, request.digest, false),
  );

  // 3. The source: by resource id when it is an ACR one of the connections can see, else by address.
  const source = await importSource(request, registries);
  const importMode: ImportMode = request.overwriteTags ? 'Force' : 'NoForce';
  await runImport(
    targetScope.arm,
    {
      target: targetResource,
      source,
      sourceRepository: request.sourceRepository,
      digest: request.digest,
      targetRepository: request.targetRepository,
      mode: importMode,
      ...(request.pollMs !== undefined ? { pollMs: request.pollMs } : {}),
    },
    log,
  );
  log.info('ARM reports the import done; reading it back through the registry API before trusting it.');

  // 4. Trust nothing the import says: every manifest re-hashed at the target, every blob present.
  const verified = await verifyImport(request, targetName);
  log.info(`Verified at the target: ${verified.manifests} manifest(s) re-hashed, ${verified.blobs} blob(s) present.`);

  // 5. The copy path on what is there: referrers (which import does not carry), checks, then tags.
  const referrersAfterImport = request.includeReferrers
    ? (await listReferrers(request.target, request.targetRepository, request.digest)).length
    : 0;
  const copied = await promote(request, log, { imageAtTarget: true });
  return {
    ...copied,
    targetResource,
    importedFrom: describeSource(source),
    importMode,
    verifiedManifests: verified.manifests,
    verifiedBlobs: verified.blobs,
    referrersAfterImport,
  };
}

async function importSource(
  request: ImportPromoteRequest,
  targetRegistries: readonly ArmRegistry[],
): Promise<ImportSource> {
  const registry = request.source.registry;
  let found = targetRegistries.find((r) => sameHost(registry, r.loginServer));
  for (const scope of request.sourceScopes) {
    if (found) break;
    if (
      scope.subscriptionId === request.targetScope.subscriptionId &&
      scope.arm.origin === request.targetScope.arm.origin
    )
      continue;
    found = (await scope.arm.listRegistries(scope.subscriptionId)).find((r) => sameHost(registry, r.loginServer));
  }
  if (found) return { kind: 'resourceId', resourceId: found.id };
  const access = request.sourceAccess;
  switch (access.kind) {
    case 'anonymous':
      return { kind: 'registryUri', registryUri: registry };
    case 'basic':
      return {
        kind: 'registryUri',
        registryUri: registry,
        credentials: { username: access.username, password: access.password },
      };
    case 'unusable':
      throw new DigestReleaseError(
        'INVALID_INPUT',
        `The source registry ${registry} is not an Azure Container Registry that the target's connection (${request.targetScope.inputName}) can see, so the import must read it by address with a user name and password, but ${access.why} ` +
          "Give the target connection's identity Reader and AcrPull on the source ACR (then it is imported by resource id), sign in to the source with a Docker Registry service connection (sourceConnectionType: dockerRegistry), or use mode: copy.",
      );
  }
}

async function verifyImport(
  request: ImportPromoteRequest,
  targetName: string,
): Promise<{ manifests: number; blobs: number }> {
  const notVerified = (why: string, cause?: unknown): DigestReleaseError =>
    new DigestReleaseError(
      'IMPORT_NOT_VERIFIED',
      `Azure Resource Manager reported the import of ${request.digest} into ${targetName} as done, but ${why} No tag was written. ` +
        'Do not use what the import left there: run the promotion again, or use mode: copy, which copies and checks every byte through the agent.',
      cause === undefined ? {} : { cause },
    );
  let plan;
  try {
    plan = await planCopy(request.target, request.targetRepository, request.digest, { includeReferrers: false });
  } catch (err) {
    if (isDigestReleaseError(err, 'MANIFEST_UNKNOWN') || isDigestReleaseError(err, 'NAME_UNKNOWN')) {
      throw notVerified(`the target does not hold ${request.digest} (${err.message})`, err);
    }
    if (isDigestReleaseError(err, 'DIGEST_MISMATCH'))
      throw notVerified(`what the target serves for it does not hash to it (${err.message})`, err);
    throw err;
  }
  if (plan.root.digest !== request.digest) throw notVerified(`the target serves ${plan.root.digest} for it.`);
  let blobs = 0;
  for (const blob of plan.blobs) {
    const head = await headBlob(request.target, request.targetRepository, blob.digest);
    if (!head) throw notVerified(`the blob ${blob.digest} that its manifests name is missing at the target.`);
    if (head.size !== blob.size)
      throw notVerified(
        `the blob ${blob.digest} is ${head.size} bytes at the target, and its manifest says ${blob.size}.`,
      );
    blobs++;
  }
  return { manifests: plan.manifests.length, blobs };
}
