// npm test: after packaging, mocha with the run's certificate authority (see with-ca.mjs), then one
// plain closing line that any CI reader understands, from mocha's own counts.
import { join } from 'node:path';
import { root, runWithCa } from './with-ca.mjs';

let output = '';
const status = await runWithCa([join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...process.argv.slice(2)], (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString('utf8');
});
// mocha's counts are lines of their own ("  12 passing (3s)"), before the failures are listed.
const count = (word) => Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(output)?.[1] ?? 0);
console.log(`${count('passing')} passed, ${count('failing')} failed${count('pending') ? `, ${count('pending')} skipped` : ''}`);
process.exit(status);
