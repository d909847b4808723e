import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (this file runs as out/lab/paths.js). */
export const ROOT = join(__dirname, '..', '..');

export function builtVsix(): string {
  const dist = join(ROOT, 'dist');
  const files = readdirSync(dist).filter((name) => name.endsWith('.vsix'));
  if (files.length !== 1)
    throw new Error(`expected exactly one .vsix in ${dist}; run npm run package first (npm test does)`);
  return join(dist, files[0]!);
}
