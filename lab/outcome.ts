import assert from 'node:assert/strict';
import type { TaskRun } from './taskrun';

// What task tests check of every run: it succeeded, or it failed with this code and a message
// that names these things, logged once as an error, with no output variable set.

export function succeeded(run: TaskRun): void {
  assert.equal(run.result, 'Succeeded', `task failed: ${run.message}\n${run.stdout}\n${run.stderr}`);
}

export function failedWith(run: TaskRun, code: string, ...fragments: string[]): void {
  assert.equal(run.result, 'Failed', `task should fail with ${code}:\n${run.stdout}`);
  assert.match(run.message, new RegExp(`\\[${code}\\]$`), run.message);
  for (const fragment of fragments)
    assert.ok(run.message.includes(fragment), `message lacks "${fragment}": ${run.message}`);
  assert.equal(run.errors.length, 1, 'one error issue is logged');
  assert.deepEqual(run.outputs, {}, 'a failed task sets no output variable');
}

/** Everything the task printed, less the lines that hand secrets to the agent for masking. */
export function visibleOutput(run: TaskRun): string {
  return (run.stdout + run.stderr)
    .split('\n')
    .filter((line) => !line.startsWith('##vso[task.setsecret]'))
    .join('\n');
}
