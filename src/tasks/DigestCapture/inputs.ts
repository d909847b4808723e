import type { CaptureRequest } from '../../capture/resolve';
import type { ConnectionInputs } from '../../connection/credentials';
import { parseDigest } from '../../reference/digest';
import { parseReference } from '../../reference/reference';
import type { TaskContext } from '../context';
import { readConnectionInputs } from '../connection';

// DigestCapture@1 inputs, read once into a typed record whose keys are the input names.

export interface CaptureInputs extends CaptureRequest {
  readonly connection: ConnectionInputs;
}

export function readCaptureInputs(context: TaskContext): CaptureInputs {
  const image = parseReference(context.requiredInput('image', 'myacr.azurecr.io/app:$(Build.BuildId)'), 'input image');
  const expected = context.input('expectedDigest');
  const metadataFile = context.filePathInput('metadataFile');
  return {
    image,
    connection: readConnectionInputs(context),
    ...(expected ? { expectedDigest: parseDigest(expected, 'input expectedDigest') } : {}),
    ...(metadataFile ? { metadataFile } : {}),
  };
}
