// Bundles each task under tasks/ into one minified file with esbuild and stages the extension's
// root in build/: vss-extension.json, README.md, images/ and build/tasks/<Task>/{task.json,
// index.js,icon.png,lib.json}. No node_modules. tfx packages build/ as it is, so the paths in
// vss-extension.json are the paths inside the extension.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build');
rmSync(out, { recursive: true, force: true });

const tasks = readdirSync(join(root, 'tasks'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

for (const task of tasks) {
  const source = join(root, 'tasks', task);
  const target = join(out, 'tasks', task);
  mkdirSync(target, { recursive: true });
  await build({
    entryPoints: [join(source, 'index.ts')],
    outfile: join(target, 'index.js'),
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    legalComments: 'external',
    logLevel: 'warning',
  });
  cpSync(join(source, 'task.json'), join(target, 'task.json'));
  cpSync(existsSync(join(source, 'icon.png')) ? join(source, 'icon.png') : join(root, 'images', 'task-icon.png'), join(target, 'icon.png'));
  // The task library loads its own messages from lib.json beside the code that runs.
  cpSync(join(root, 'node_modules', 'azure-pipelines-task-lib', 'lib.json'), join(target, 'lib.json'));
  console.log(`built ${task}`);
}
for (const file of ['vss-extension.json', 'README.md', 'LICENSE', 'images']) {
  cpSync(join(root, file), join(out, file), { recursive: true });
}
