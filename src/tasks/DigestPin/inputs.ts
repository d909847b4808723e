import { DigestReleaseError } from '../../errors';
import { parseHelmDigestKey } from '../../pin/helmkey';
import type { PinOptions } from '../../pin/file-plan';
import { parseRegistryRules } from '../../pin/registries';
import { inputLines, parseTargets } from '../../pin/targets';
import type { TaskContext } from '../context';

// DigestPin@1 inputs, read once into a typed record: the files, and how to pin or check them.

export interface PinInputs {
  readonly files: readonly string[];
  /** Where relative patterns start: System.DefaultWorkingDirectory. */
  readonly root: string;
  readonly options: PinOptions;
  readonly requireAllImagesMatched: boolean;
}

export function readPinInputs(context: TaskContext): PinInputs {
  const files = inputLines(context.requiredInput('files', '$(Pipeline.Workspace)/manifests/**/*.yaml'));
  const mode = context.choiceInput('mode', ['pin', 'check'] as const, 'pin');
  const imageLines = inputLines(context.input('images'));
  if (mode === 'pin' && imageLines.length === 0) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      'The input images is required and is empty in mode pin. Set it to the digest references to pin, one a line, for example images: $(capture.IMAGE_REF); or set mode: check to only verify the files.',
    );
  }
  const root = context.variable('System.DefaultWorkingDirectory') ?? process.cwd();
  return {
    files,
    root,
    requireAllImagesMatched: context.booleanInput('requireAllImagesMatched', true),
    options: {
      mode,
      targets: parseTargets(imageLines),
      allowed: parseRegistryRules(inputLines(context.input('allowedRegistries'))),
      keepTag: context.booleanInput('keepTag', false),
      helmKey: parseHelmDigestKey(context.input('helmDigestKey') ?? 'image.digest'),
    },
  };
}
