import { ConnectionInputs } from '../../connection/credentials';
import { DigestReleaseError } from '../../errors';
import { ImageReference, parseReference } from '../../reference/reference';
import { TaskContext } from '../agent';
import { readConnectionInputs } from '../connection';

// DigestPromote@1's inputs, read once into a typed record whose keys are the input names' meaning.

export const PROMOTE_MODES = ['copy', 'import'] as const;
const TAG = /^[\w][\w.-]{0,127}$/;
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
  readonly sourceConnection: ConnectionInputs;
  readonly targetConnection: ConnectionInputs;
}

function invalid(name: string, value: string, fix: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_INPUT', `The input ${name} has the value "${value}": ${fix}`);
}

export function readPromoteInputs(context: TaskContext): PromoteInputs {
  const sourceText = context.requiredInput('source', 'devacr.azurecr.io/app@$(IMAGE_DIGEST)');
  const source = parseReference(sourceText, 'input source');
  const allowTagSource = context.booleanInput('allowTagSource', false);
  if (source.digest === undefined && !allowTagSource) {
    throw invalid(
      'source',
      sourceText,
      'it has no digest, and a tag can move between the build and the promotion. Give the digest (registry/repository@sha256:..., for example from the IMAGE_REF output of DigestCapture@1), or set allowTagSource: true to resolve the tag once.',
    );
  }
  const targetText = context.requiredInput('target', 'prodacr.azurecr.io/app:1.4.2');
  const target = parseReference(targetText, 'input target');
  if (target.digest !== undefined) {
    throw invalid('target', targetText, 'a target is registry/repository[:tag]; the digest is the source\'s and is kept. Remove "@sha256:...".');
  }

  const additionalTags: string[] = [];
  for (const line of (context.input('additionalTags') ?? '').split(/\r?\n|,/)) {
    const tag = line.trim();
    if (tag === '' || tag.startsWith('#')) continue;
    if (!TAG.test(tag)) {
      throw invalid('additionalTags', tag, 'a tag has 1 to 128 letters, digits, "_", "." and "-", and does not start with "." or "-". Write one tag a line.');
    }
    additionalTags.push(tag);
  }

  const mode = context.choiceInput('mode', PROMOTE_MODES, 'copy');
  if (mode === 'import') {
    throw invalid(
      'mode',
      'import',
      'ACR server-side import is not available in this version of DigestPromote@1: it needs the Azure Resource Manager sign-in, which has not shipped yet. Use mode: copy, which promotes between any two registries, ACR included.',
    );
  }
  if (context.booleanInput('lockAfterPromote', false)) {
    throw invalid(
      'lockAfterPromote',
      'true',
      'locking the promoted image is not available in this version of DigestPromote@1: it needs DigestLock@1 and the ACR sign-in, which have not shipped yet. Remove lockAfterPromote (or set it to false).',
    );
  }

  const concurrencyText = context.input('concurrency') ?? '4';
  const concurrency = Number(concurrencyText);
  if (!/^\d+$/.test(concurrencyText) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw invalid('concurrency', concurrencyText, `use a whole number from 1 to ${MAX_CONCURRENCY} (blobs transferred at once; 4 is the default).`);
  }

  return {
    source,
    resolveSourceTag: source.digest === undefined,
    target,
    additionalTags,
    semverTags: context.booleanInput('semverTags', false),
    overwriteTags: context.booleanInput('overwriteTags', false),
    includeReferrers: context.booleanInput('includeReferrers', true),
    concurrency,
    sourceConnection: readConnectionInputs(context, 'source'),
    targetConnection: readConnectionInputs(context, 'target'),
  };
}
