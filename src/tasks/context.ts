import { resolve } from 'node:path';
import type { EndpointReader } from '../connection/endpoint';
import { DigestReleaseError } from '../errors';
import type { Network } from '../http/network';

// What an operation sees of the agent: the TaskContext. The agent's is agent.ts (the task library);
// the fast task tests hand the operations their own (test/tasks/fake-context.ts). Both read inputs
// through typedInputs, so an input means the same in either.

export interface TaskContext {
  /** A trimmed input; undefined when empty. */
  input(name: string): string | undefined;
  /**
   * A filePath input; undefined when not given. The agent roots every filePath input against the
   * repository before the task starts, so an empty one arrives as the sources directory itself:
   * that value means "not given", as task-lib's filePathSupplied() decides.
   */
  filePathInput(name: string): string | undefined;
  requiredInput(name: string, example: string): string;
  /** A boolean input: true/false (any case); anything else is an error naming the input. */
  booleanInput(name: string, defaultValue: boolean): boolean;
  /** One of the allowed values; anything else is an error listing them. */
  choiceInput<T extends string>(name: string, allowed: readonly T[], defaultValue: T): T;
  /** A whole number from min to max; anything else is an error naming the range and what it counts. */
  wholeNumberInput(
    name: string,
    defaultValue: number,
    range: { readonly min: number; readonly max: number; readonly counts: string },
  ): number;
  variable(name: string): string | undefined;
  setOutput(name: string, value: string): void;
  setSecret(value: string): void;
  info(message: string): void;
  warning(message: string): void;
  uploadSummary(title: string, markdown: string): void;
  /** An error or warning the pipeline UI links to a file and line. */
  issue(type: 'error' | 'warning', message: string, file?: string, line?: number): void;
  /** Paths (files and folders) matching glob patterns, `!` patterns excluding; relative patterns are rooted at root. */
  findMatch(root: string, patterns: readonly string[]): string[];
  readonly endpoints: EndpointReader;
  /**
   * The agent's proxy and certificate authority, read once on first use: every client a task
   * makes (registry, ACR, Resource Manager, Azure DevOps, Entra ID) takes its connections from it.
   */
  readonly network: Network;
  /** Publishes a file as a build artifact (`##vso[artifact.upload]`); only in build (YAML) runs. */
  uploadArtifact(artifactName: string, containerFolder: string, path: string): void;
}

/** The error for an input whose value cannot be used: names the input, the value and the fix. */
export function invalidInput(name: string, value: string, fix: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_INPUT', `The input ${name} has the value "${value}": ${fix}`);
}

/** The typed inputs a TaskContext reads over `raw` (an input as the agent hands it) and `variable` (undefined when unset or empty). */
export type TypedInputs = Pick<
  TaskContext,
  'input' | 'filePathInput' | 'requiredInput' | 'booleanInput' | 'choiceInput' | 'wholeNumberInput'
>;

export function typedInputs(
  raw: (name: string) => string | undefined,
  variable: (name: string) => string | undefined,
): TypedInputs {
  const input = (name: string): string | undefined => {
    const value = raw(name)?.trim();
    return value === '' ? undefined : value;
  };
  return {
    input,
    filePathInput(name) {
      const value = input(name);
      if (value === undefined) return undefined;
      const root = variable('Build.SourcesDirectory') ?? variable('System.DefaultWorkingDirectory');
      return root !== undefined && resolve(value) === resolve(root) ? undefined : value;
    },
    requiredInput(name, example) {
      const value = input(name);
      if (value === undefined) {
        throw new DigestReleaseError(
          'INVALID_INPUT',
          `The input ${name} is required and is empty. Set it, for example ${name}: ${example}`,
        );
      }
      return value;
    },
    booleanInput(name, defaultValue) {
      const value = input(name);
      if (value === undefined) return defaultValue;
      if (/^true$/i.test(value)) return true;
      if (/^false$/i.test(value)) return false;
      throw invalidInput(name, value, 'use true or false.');
    },
    choiceInput(name, allowed, defaultValue) {
      const value = input(name);
      if (value === undefined) return defaultValue;
      const match = allowed.find((option) => option.toLowerCase() === value.toLowerCase());
      if (match === undefined) throw invalidInput(name, value, `use one of ${allowed.join(', ')}.`);
      return match;
    },
    wholeNumberInput(name, defaultValue, range) {
      const value = input(name);
      if (value === undefined) return defaultValue;
      const number = Number(value);
      if (!/^\d+$/.test(value) || number < range.min || number > range.max) {
        throw invalidInput(
          name,
          value,
          `use a whole number from ${range.min} to ${range.max} (${range.counts}; ${defaultValue} is the default).`,
        );
      }
      return number;
    },
  };
}
