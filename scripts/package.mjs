// Packages the staged build/ (see build.mjs) into exactly one dist/*.vsix with the tfx-cli installed as a dev dependency.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
const tfx = join(root, 'node_modules', 'tfx-cli', '_build', 'tfx-cli.js');
const output = execFileSync(
  process.execPath,
  [
    tfx,
    'extension',
    'create',
    '--root',
    join(root, 'build'),
    '--manifest-globs',
    'vss-extension.json',
    '--output-path',
    dist,
    '--no-prompt',
    '--no-color',
  ],
  {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TFX_TRACE: '' },
  },
);
process.stdout.write(output);
// tfx only warns about a task.json it finds wrong and packages it anyway: here that is an error.
if (/warning:/i.test(output)) {
  rmSync(dist, { recursive: true, force: true });
  throw new Error('tfx warned about the extension (see above); fix it rather than ship it');
}
const files = readdirSync(dist).filter((name) => name.endsWith('.vsix'));
if (files.length !== 1) throw new Error(`expected exactly one .vsix in dist/, found ${files.length}`);
console.log(`packaged dist/${files[0]}`);
