import type { ConnectionInputs } from '../../connection/credentials';
import { inputLines } from '../../pin/targets';
import type { ImageReference } from '../../reference/reference';
import { formatReference, parseReference } from '../../reference/reference';
import type { RetentionPolicy } from '../../retain/decide';
import type { TaskContext } from '../context';
import { invalidInput } from '../context';
import { readConnectionInputs } from '../connection';

// DigestRetain@1 inputs, read once into a typed record whose keys are the input names.

export const RETAIN_ACTIONS = ['report', 'protect'] as const;
export type RetainAction = (typeof RETAIN_ACTIONS)[number];

export interface RetainInputs {
  /** The repository: registry and repository, neither tag nor digest. */
  readonly repository: ImageReference;
  readonly policy: RetentionPolicy;
  readonly action: RetainAction;
  readonly failOnUnsupported: boolean;
  readonly outputPath?: string;
  readonly connection: ConnectionInputs;
}

export function readRetainInputs(context: TaskContext): RetainInputs {
  const text = context.requiredInput('repository', 'myacr.azurecr.io/shop/api');
  const repository = parseReference(text, 'input repository');
  if (repository.tag !== undefined || repository.digest !== undefined) {
    throw invalidInput(
      'repository',
      text,
      `name the repository only, ${formatReference({ registry: repository.registry, repository: repository.repository })}: every digest in it with release evidence is looked at, so a tag or digest has no place here.`,
    );
  }
  const environments = inputLines(context.input('environments'));
  const action = context.choiceInput('action', RETAIN_ACTIONS, 'report');
  const outputPath = context.input('outputPath');
  return {
    repository,
    policy: {
      ...(environments.length > 0 ? { environments } : {}),
      keepReleases: context.wholeNumberInput('keepReleases', 3, {
        min: 1,
        max: 1000,
        counts: 'releases kept per environment, the current one included',
      }),
      keepDays: context.wholeNumberInput('keepDays', 60, {
        min: 0,
        max: 36500,
        counts: 'days a release is kept whatever its place; 0 keeps by count only',
      }),
      keepRollbackTargets: context.booleanInput('keepRollbackTargets', true),
    },
    action,
    failOnUnsupported: context.booleanInput('failOnUnsupported', true),
    ...(outputPath !== undefined ? { outputPath } : {}),
    connection: readConnectionInputs(context),
  };
}
