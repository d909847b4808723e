// npm test: after packaging, mocha with the run's certificate authority (see with-ca.mjs), then one
// plain closing line that any CI reader understands, from mocha's own counts.
import { join } from 'node:path';
import { root, runWithCa } from './with-ca.mjs';

let tail = '';
const status = await runWithCa([join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...process.argv.slice(2)], (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-4096);
});
const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(tail)?.[1] ?? 0);
console.log(`${count('passing')} passed, ${count('failing')} failed${count('pending') ? `, ${count('pending')} skipped` : ''}`);
process.exit(status);
