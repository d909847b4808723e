import type * as TaskLib from 'azure-pipelines-task-lib/task';

// Glob matching as the agent's own tasks do it: azure-pipelines-task-lib's findMatch (minimatch,
// `!` excludes, relative patterns rooted at a folder). Only a task that matches files hands this to
// runTask (DigestPin), so only its bundle holds the task library; it loads on the first match.

export function findMatch(root: string, patterns: readonly string[]): string[] {
  const taskLib: typeof TaskLib = require('azure-pipelines-task-lib/task');
  return taskLib.findMatch(root, [...patterns]);
}
