import { DigestReleaseError } from '../errors';
import type { Digest } from '../reference/digest';
import { sleep } from '../http/retry';
import type { ArmClient, ArmRegistry } from './arm';

// ACR's server-side import (Registries - Import Image): the registry copies an image from another
// registry itself, so no layer passes through the agent. What it reports is not trusted: the
// caller re-reads the result through the registry API before anything is tagged. That is also
// why the import is asked for a manifest-only copy (untaggedTargetRepositories) and never for
// tags: a tag written by the import would point at bytes nobody had checked yet.

export type ImportMode = 'NoForce' | 'Force';

/** Where the import reads from: an ACR by resource id, or any registry by its address. */
export type ImportSource =
  | { readonly kind: 'resourceId'; readonly resourceId: string }
  | {
      readonly kind: 'registryUri';
      readonly registryUri: string;
      readonly credentials?: { readonly username: string; readonly password: string };
    };

export interface ImportRequest {
  readonly target: ArmRegistry;
  readonly source: ImportSource;
  readonly sourceRepository: string;
  readonly digest: Digest;
  readonly targetRepository: string;
  readonly mode: ImportMode;
  /** Longest wait for the operation; ARM's own limit for an import is about an hour. */
  readonly timeoutMs?: number;
  /** Poll interval when ARM names none (Retry-After). */
  readonly pollMs?: number;
}

export interface ImportLog {
  info(message: string): void;
}

/** The importImage request body; credentials only for an address source. */
export function importBody(request: ImportRequest): Record<string, unknown> {
  const sourceImage = `${request.sourceRepository}@${request.digest}`;
  const source =
    request.source.kind === 'resourceId'
      ? { resourceId: request.source.resourceId, sourceImage }
      : {
          registryUri: request.source.registryUri,
          sourceImage,
          ...(request.source.credentials ? { credentials: { ...request.source.credentials } } : {}),
        };
  return { source, untaggedTargetRepositories: [request.targetRepository], mode: request.mode };
}

export function describeSource(source: ImportSource): string {
  return source.kind === 'resourceId'
    ? `the registry resource ${source.resourceId}`
    : `${source.registryUri}${source.credentials ? " (with the source connection's user name and password)" : ' (anonymous)'}`;
}

/** Starts the import and waits for ARM to call it done; throws IMPORT_FAILED with ARM's words when it fails. */
export async function runImport(arm: ArmClient, request: ImportRequest, log: ImportLog): Promise<void> {
  const what = `the import of ${request.sourceRepository}@${request.digest} into ${request.target.loginServer}/${request.targetRepository}`;
  log.info(
    `Asking ${request.target.name} (${request.target.id}) to import ${request.sourceRepository}@${request.digest} from ${describeSource(request.source)} into ${request.targetRepository}, mode ${request.mode}, no tags.`,
  );
  const started = await arm.beginAction(request.target.id, 'importImage', importBody(request), what);
  if (started.pollUrl === undefined) return;
  const deadline = Date.now() + (request.timeoutMs ?? 60 * 60_000);
  let wait = started.retryAfterMs ?? request.pollMs ?? 2_000;
  for (;;) {
    await sleep(Math.min(wait, 30_000));
    const state = await arm.pollOperation(started.pollUrl, what);
    if (state.status === 'succeeded') return;
    if (state.status === 'failed') {
      throw new DigestReleaseError(
        'IMPORT_FAILED',
        `Azure Resource Manager reports ${what} as ${state.terminal}: ${[state.code, state.message].filter((part) => part).join(': ')}. No tag was written. ` +
          importHint(state.code),
      );
    }
    if (Date.now() > deadline) {
      throw new DigestReleaseError(
        'IMPORT_FAILED',
        `${what} was still running after ${Math.round((request.timeoutMs ?? 3_600_000) / 60_000)} minutes; stopped waiting. No tag was written. Run again (an import of a digest already there is quick), or use mode: copy.`,
      );
    }
    wait = state.retryAfterMs ?? request.pollMs ?? 2_000;
  }
}

function importHint(code: string): string {
  if (/auth|denied|forbidden|unauthori/i.test(code)) {
    return "Check that the target connection's identity may read the source (AcrPull on a source ACR given by resource id), or that the source sign-in's user name and password are valid.";
  }
  if (/notfound|manifest_unknown|unknown/i.test(code))
    return 'Check that the source digest exists in the source repository.';
  return 'Run again; if it persists, use mode: copy, which promotes through the agent.';
}
