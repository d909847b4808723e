// npm test: after packaging, make a certificate authority for this run and start mocha trusting it.
// Node reads NODE_EXTRA_CA_CERTS only at start-up, so the CA must exist before the test process
// does; the test registries and the tasks run by the tests use the same CA.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { makeCertificates } = require(join(root, 'out', 'test', 'support', 'tls.js'));

const dir = mkdtempSync(join(tmpdir(), 'digest-release-test-'));
let status = 1;
try {
  const certs = makeCertificates(join(dir, 'tls'));
  const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const child = spawn(process.execPath, [mocha, ...process.argv.slice(2)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.caFile, DIGEST_RELEASE_TEST_DIR: dir },
  });
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  });
  status = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  // One plain closing line that any CI reader understands, from mocha's own counts.
  const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(tail)?.[1] ?? 0);
  console.log(`${count('passing')} passed, ${count('failing')} failed${count('pending') ? `, ${count('pending')} skipped` : ''}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
