import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceFile } from '../../src/pin/batch';
import { parseHelmDigestKey } from '../../src/pin/helmkey';
import type { Mode, PinOptions } from '../../src/pin/file-plan';
import { parseRegistryRules } from '../../src/pin/registries';
import { parseTargets } from '../../src/pin/targets';
import { ROOT } from '../../lab/paths';

export const FIXTURES = join(ROOT, 'test', 'fixtures', 'pin');

/** A made-up but well-formed digest, different for every seed. */
export function digestOf(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

export function fixture(name: string): SourceFile {
  const path = join(FIXTURES, name);
  return { path, display: name, text: readFileSync(path, 'utf8') };
}

export function source(display: string, text: string): SourceFile {
  return { path: display, display, text };
}

export function options(
  images: string[],
  more: { mode?: Mode; allowed?: string[]; keepTag?: boolean; helmDigestKey?: string } = {},
): PinOptions {
  return {
    mode: more.mode ?? 'pin',
    targets: parseTargets(images),
    allowed: parseRegistryRules(more.allowed ?? []),
    keepTag: more.keepTag ?? false,
    helmKey: parseHelmDigestKey(more.helmDigestKey ?? 'image.digest'),
  };
}

/** Lines of `after` that differ from `before`, by line number; both must have as many lines. */
export function changedLines(before: string, after: string): Array<{ line: number; before: string; after: string }> {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) throw new Error(`line count changed from ${a.length} to ${b.length}`);
  return a.flatMap((line, i) => (line === b[i] ? [] : [{ line: i + 1, before: line, after: b[i]! }]));
}
