import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ROOT } from '../lab/paths';

// The layers of src/ as README's "How it is built" states them, checked against every import in
// src/: a layer imports only the layers its row allows, each allowed layer is really imported (the
// table says what the code does, no more), only layers listed above it (every arrow points down),
// nothing above src/http speaks HTTP or TLS itself, and no two core files share a name.

const SRC = join(ROOT, 'src');
/** Node modules only the HTTP layer may import. */
const NETWORK_MODULES = new Set(['http', 'https', 'tls', 'http2'].flatMap((name) => [name, `node:${name}`]));

interface Row {
  readonly names: string[];
  readonly allowed: Set<string>;
}

interface LayerTable {
  /** Layers (folders of src/) in the order of the table, each with what it may import. */
  readonly layers: Map<string, Set<string>>;
  /** The small shared files at src/ that every layer may import. */
  readonly shared: Set<string>;
}

function readLayerTable(): LayerTable {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## How it is built');
  assert.ok(start >= 0, 'README.md has a "How it is built" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split('|').map((cell) => cell.trim());
    const names = [...(cells[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const allowedCell = cells[2] ?? '';
    const allowed = /every layer above/.test(allowedCell)
      ? new Set(rows.flatMap((row) => row.names.filter((name) => name.endsWith('/')).map((name) => name.slice(0, -1))))
      : new Set([...allowedCell.matchAll(/`([^`]+)\/`/g)].map((m) => m[1]!));
    rows.push({ names, allowed });
  }
  const layers = new Map<string, Set<string>>();
  const shared = new Set<string>();
  for (const row of rows) {
    for (const name of row.names) {
      if (name.endsWith('/')) layers.set(name.slice(0, -1), row.allowed);
      else if (name.endsWith('.ts')) shared.add(name.slice(0, -3));
    }
  }
  return { layers, shared };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** What a file imports: every module specifier of an import, export-from, import() or require(). */
function specifiers(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*|\brequire\s*\(\s*)'([^']+)'/g)].map((m) => m[1]!);
}

/** The layer (first folder under src/) or shared file (without .ts) a path in src/ belongs to. */
function unitOf(path: string): string {
  const first = relative(SRC, path).split(sep)[0]!;
  return first.replace(/\.ts$/, '');
}

const table = readLayerTable();
const files = sourceFiles(SRC);
/** Layer -> layer edges the code has, with one file that shows each. */
const edges = new Map<string, Map<string, string>>();
for (const file of files) {
  const from = unitOf(file);
  for (const spec of specifiers(readFileSync(file, 'utf8'))) {
    if (!spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(SRC + sep)) continue;
    const to = unitOf(target);
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, relative(ROOT, file));
  }
}

describe('layers of src/ as README states them', () => {
  it('README names every folder and file at the top of src/, and nothing else', () => {
    const present = readdirSync(SRC, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() || entry.name.endsWith('.ts'))
      .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
      .sort();
    const named = [
      ...[...table.layers.keys()].map((layer) => `${layer}/`),
      ...[...table.shared].map((file) => `${file}.ts`),
    ].sort();
    assert.deepEqual(named, present);
  });

  it('a layer imports only the layers its row allows, and the shared files', () => {
    const wrong: string[] = [];
    for (const [from, targets] of edges) {
      for (const [to, file] of targets) {
        if (table.shared.has(to) && !table.shared.has(from)) continue;
        if (table.layers.get(from)?.has(to)) continue;
        wrong.push(`${file} (${from}) imports ${to}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('every layer a row allows is one the layer imports: the table says what the code does', () => {
    const unused: string[] = [];
    for (const [layer, allowed] of table.layers) {
      for (const to of allowed) if (!edges.get(layer)?.has(to)) unused.push(`${layer} -> ${to}`);
    }
    assert.deepEqual(unused, []);
  });

  it('a layer may import only layers listed above it, so every arrow points down', () => {
    const order = [...table.layers.keys()];
    const upward: string[] = [];
    for (const [layer, allowed] of table.layers) {
      for (const to of allowed)
        if (!order.includes(to) || order.indexOf(to) >= order.indexOf(layer)) upward.push(`${layer} -> ${to}`);
    }
    assert.deepEqual(upward, []);
  });

  it('nothing above src/http imports node:http, node:https or node:tls', () => {
    const offenders = files
      .filter((file) => unitOf(file) !== 'http')
      .flatMap((file) =>
        specifiers(readFileSync(file, 'utf8'))
          .filter((spec) => NETWORK_MODULES.has(spec))
          .map((spec) => `${relative(ROOT, file)} imports ${spec}`),
      );
    assert.deepEqual(offenders, []);
  });

  it('no two files in src/ share a name, outside the per-task folders src/tasks/<task>/', () => {
    const byName = new Map<string, string[]>();
    for (const file of files) {
      const parts = relative(SRC, file).split(sep);
      if (parts[0] === 'tasks' && parts.length > 2) continue;
      const name = basename(file);
      byName.set(name, [...(byName.get(name) ?? []), relative(ROOT, file)]);
    }
    const twice = [...byName.values()].filter((paths) => paths.length > 1).map((paths) => paths.join(' and '));
    assert.deepEqual(twice, []);
  });
});
