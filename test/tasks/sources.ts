import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lab/paths';

// Where the tests find the tasks' sources, as scripts/task-sources.mjs finds them for the build and
// the versioning: each task is a folder src/tasks/<Task>/ with its task.json.

/** The folder of a task's sources (its task.json, index.ts and the code only it uses). */
export function taskSourceDir(task: string, root: string = ROOT): string {
  return join(root, 'src', 'tasks', task);
}

/** The task.json of a task, as written in the repository. */
export function taskJsonPath(task: string, root: string = ROOT): string {
  return join(taskSourceDir(task, root), 'task.json');
}

/** Every task, by name: every folder of src/tasks with a task.json. */
export function taskNames(root: string = ROOT): string[] {
  const dir = join(root, 'src', 'tasks');
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'task.json')))
    .map((entry) => entry.name)
    .sort();
}

export function readTaskJson<T = Record<string, unknown>>(task: string, root: string = ROOT): T {
  return JSON.parse(readFileSync(taskJsonPath(task, root), 'utf8')) as T;
}
