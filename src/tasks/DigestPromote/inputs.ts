import type { ConnectionInputs } from '../../connection/credentials';
import type { ImageReference } from '../../reference/reference';
import { isValidTag, parseReference } from '../../reference/reference';
import type { TaskContext } from '../context';
import { invalidInput } from '../context';
import { readConnectionInputs } from '../connection';

// DigestPromote@1's inputs, read once into a typed record whose keys are the input names' meaning.

export const PROMOTE_MODES = ['copy', 'import'] as const;
export type PromoteMode = (typeof PROMOTE_MODES)[number];
const MAX_CONCURRENCY = 32;

export interface PromoteInputs {
  readonly source: ImageReference;
  /** The source had no digest: resolve its tag once (allowTagSource). */
  readonly resolveSourceTag: boolean;
  readonly target: ImageReference;
  readonly additionalTags: readonly string[];
  readonly semverTags: boolean;
  readonly overwriteTags: boolean;
  readonly includeReferrers: boolean;
  readonly concurrency: number;
  readonly mode: PromoteMode;
  /** Lock the promoted manifest and the tags asked for by name, as DigestLock@1 does. */
  readonly lockAfterPromote: boolean;
  readonly sourceConnection: ConnectionInputs;
  readonly targetConnection: ConnectionInputs;
}

export function readPromoteInputs(context: TaskContext): PromoteInputs {
  const sourceText = context.requiredInput('source', '$(capture.IMAGE_REF)');
  const source = parseReference(sourceText, 'input source');
  const allowTagSource = context.booleanInput('allowTagSource', false);
  if (source.digest === undefined && !allowTagSource) {
    throw invalidInput(
      'source',
      sourceText,
      'it has no digest, and a tag can move between the build and the promotion. Give the digest (registry/repository@sha256:..., for example from the IMAGE_REF output of DigestCapture@1), or set allowTagSource: true to resolve the tag once.',
    );
  }
  const targetText = context.requiredInput('target', 'prodacr.azurecr.io/app:1.4.2');
  const target = parseReference(targetText, 'input target');
  if (target.digest !== undefined) {
    throw invalidInput(
      'target',
      targetText,
      'a target is registry/repository[:tag]; the digest is the source\'s and is kept. Remove "@sha256:...".',
    );
  }

  const additionalTags: string[] = [];
  for (const line of (context.input('additionalTags') ?? '').split(/\r?\n|,/)) {
    const tag = line.trim();
    if (tag === '' || tag.startsWith('#')) continue;
    if (!isValidTag(tag)) {
      throw invalidInput(
        'additionalTags',
        tag,
        'a tag has 1 to 128 letters, digits, "_", "." and "-", and does not start with "." or "-". Write one tag a line.',
      );
    }
    additionalTags.push(tag);
  }

  const mode = context.choiceInput('mode', PROMOTE_MODES, 'copy');
  const lockAfterPromote = context.booleanInput('lockAfterPromote', false);
  const sourceConnection = readConnectionInputs(context, 'source');
  const targetConnection = readConnectionInputs(context, 'target');
  if (mode === 'import') checkImportInputs(context, targetConnection);

  const concurrency = context.wholeNumberInput('concurrency', 4, {
    min: 1,
    max: MAX_CONCURRENCY,
    counts: 'blobs transferred at once',
  });

  return {
    source,
    resolveSourceTag: source.digest === undefined,
    target,
    additionalTags,
    semverTags: context.booleanInput('semverTags', false),
    overwriteTags: context.booleanInput('overwriteTags', false),
    includeReferrers: context.booleanInput('includeReferrers', true),
    concurrency,
    mode,
    lockAfterPromote,
    sourceConnection,
    targetConnection,
  };
}

/**
 * Import runs on the target ACR's Azure resource, so it needs the target's Azure Resource Manager
 * connection. The old input azureSubscription, reserved before import shipped, is not a second
 * way to name it: two connections for one registry would be a puzzle in a failed run.
 */
function checkImportInputs(context: TaskContext, target: ConnectionInputs): void {
  if (target.connectionType !== 'azureRM') {
    throw invalidInput(
      'targetConnectionType',
      target.connectionType,
      "mode: import asks Azure Resource Manager to import into an Azure Container Registry, which needs the target's Azure Resource Manager service connection. " +
        'Set targetConnectionType: azureRM and targetAzureSubscription: <your ARM service connection>, or use mode: copy, which promotes into any registry.',
    );
  }
  const legacy = context.input('azureSubscription');
  if (legacy !== undefined && legacy !== target.azureSubscription) {
    throw invalidInput(
      'azureSubscription',
      legacy,
      `mode: import signs in to Azure Resource Manager with the target's connection (targetAzureSubscription${target.azureSubscription ? ` = "${target.azureSubscription}"` : ''}). Remove azureSubscription, or move its value to targetAzureSubscription.`,
    );
  }
}
