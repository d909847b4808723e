// Runs a Node script with a certificate authority made for this run and trusted through
// NODE_EXTRA_CA_CERTS (Node reads it only at start-up, so the CA must exist first). The script
// finds the CA and a scratch folder through DIGEST_RELEASE_TEST_DIR. Used by npm run bench.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { makeCertificates } = createRequire(import.meta.url)(join(root, 'out', 'test', 'support', 'tls.js'));
const dir = mkdtempSync(join(tmpdir(), 'digest-release-run-'));
let status = 1;
try {
  const certs = makeCertificates(join(dir, 'tls'));
  const result = spawnSync(process.execPath, process.argv.slice(2), {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.caFile, DIGEST_RELEASE_TEST_DIR: dir },
  });
  status = result.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
