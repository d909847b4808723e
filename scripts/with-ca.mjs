// Runs a Node script with a certificate authority made for this run and trusted through
// NODE_EXTRA_CA_CERTS (Node reads it only at start-up, so the CA must exist first). The script
// finds the CA and a scratch folder through DIGEST_RELEASE_TEST_DIR. npm run bench and npm run
// demo use it as a command; npm test (scripts/test.mjs) through runWithCa.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `node <args>` with the run's CA (and `extraEnv`); `onStdout` sees its output (which is then piped), else it is inherited. Resolves to the exit code. */
export async function runWithCa(args, onStdout, extraEnv = {}) {
  const { makeCertificates } = createRequire(import.meta.url)(join(root, 'out', 'lab', 'tls.js'));
  const dir = mkdtempSync(join(tmpdir(), 'digest-release-run-'));
  try {
    const certs = makeCertificates(join(dir, 'tls'));
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', onStdout ? 'pipe' : 'inherit', 'inherit'],
      env: { ...process.env, ...extraEnv, NODE_EXTRA_CA_CERTS: certs.caFile, DIGEST_RELEASE_TEST_DIR: dir },
    });
    child.stdout?.on('data', onStdout);
    // Ctrl-C reaches the child too (one process group): wait for it to stop what it started, then
    // remove the CA and scratch folder below; a TERM sent to this process alone is passed on.
    const onInt = () => {};
    const onTerm = () => child.kill('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      return await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    } finally {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(await runWithCa(process.argv.slice(2)));
