// Where the tasks' sources are: each task is one folder src/tasks/<Task>/ holding its task.json, its
// one-line index.ts (the bundle's entry) and the code only it uses; the code the tasks share sits
// beside those folders in src/tasks/. The build, the versioning and the tests find the tasks here.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The task folders under `root`, by name: every folder of src/tasks with a task.json. */
export function taskFolders(root) {
  const dir = join(root, 'src', 'tasks');
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'task.json')))
    .map((entry) => ({ name: entry.name, dir: join(dir, entry.name) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
