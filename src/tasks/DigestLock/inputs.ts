import type { LockAction, LockRequest } from '../../acr/locks';
import type { ConnectionInputs } from '../../connection/credentials';
import { parseDigest } from '../../reference/digest';
import { parseReference, withDefaultTag } from '../../reference/reference';
import type { TaskContext } from '../context';
import { readConnectionInputs } from '../connection';

// DigestLock@1 inputs, read once into a typed record: the lock asked for, and what to do where it cannot be had.

export interface LockInputs {
  readonly request: LockRequest;
  readonly failOnUnsupported: boolean;
  readonly connection: ConnectionInputs;
}

const ACTIONS: readonly LockAction[] = ['lock', 'unlock'];

export function readLockInputs(context: TaskContext): LockInputs {
  const image = parseReference(context.requiredInput('image', 'myacr.azurecr.io/app:$(Build.BuildId)'), 'input image');
  const expected = context.input('expectedDigest');
  const action = context.choiceInput('action', ACTIONS, 'lock');
  return {
    request: {
      image: withDefaultTag(image),
      ...(expected ? { expectedDigest: parseDigest(expected, 'input expectedDigest') } : {}),
      action,
      lockManifest: context.booleanInput('lockManifest', true),
      lockTag: context.booleanInput('lockTag', true),
      deleteEnabled: context.booleanInput('deleteEnabled', false),
    },
    failOnUnsupported: context.booleanInput('failOnUnsupported', true),
    connection: readConnectionInputs(context),
  };
}
