import type { YAMLMap } from 'yaml';
import { isMap, isSeq } from 'yaml';
import type { HelmDigestKey } from '../helmkey';
import { endsWithMapPath } from '../helmkey';
import type { ImageSite } from '../image-sites';
import { imageValueSite } from '../image-sites';
import type { ParsedDocument } from '../yamlnodes';
import { asScalar, asStringScalar, entries, getValue, resolve } from '../yamlnodes';

// Helm values (and any other YAML that is not a Kubernetes object, kustomization or compose file):
// image maps with a `repository` key, where the path ends with helmDigestKey's map path
// (`image`) or the map also has a `tag`; and `image: <reference>` strings at any depth.

export function helmSites(doc: ParsedDocument, root: unknown, helmKey: HelmDigestKey): ImageSite[] {
  const sites: ImageSite[] = [];
  const seen = new Set<unknown>();
  const walk = (node: unknown, path: readonly string[]): void => {
    const resolved = resolve(node, doc);
    if (resolved === undefined || seen.has(resolved)) return;
    seen.add(resolved);
    if (isSeq(resolved)) {
      for (const [i, item] of resolved.items.entries()) walk(item, [...path, String(i)]);
      return;
    }
    if (!isMap(resolved)) return;
    const site = imageMapSite(doc, resolved, path, helmKey);
    if (site !== undefined) {
      sites.push(site);
      return;
    }
    for (const { key, pair } of entries(resolved, doc)) {
      const value = resolve(pair.value, doc);
      if (key === 'image' && !isMap(value) && !isSeq(value)) {
        const scalar = asScalar(pair.value, doc);
        const offset = scalar?.range?.[0] ?? resolved.range?.[0] ?? 0;
        const found = imageValueSite(scalar?.value ?? pair.value, scalar, offset, [...path, key].join('.'));
        // An empty string is a chart's "not set"; it names no image.
        if (found !== undefined && !(found.kind === 'reference' && found.node.value.trim() === '')) sites.push(found);
        continue;
      }
      walk(pair.value, [...path, key]);
    }
  };
  walk(root, []);
  return sites;
}

function imageMapSite(
  doc: ParsedDocument,
  map: YAMLMap,
  path: readonly string[],
  helmKey: HelmDigestKey,
): ImageSite | undefined {
  const repository = asStringScalar(getValue(map, 'repository', doc), doc);
  if (repository === undefined) return undefined;
  const tag = asScalar(getValue(map, 'tag', doc), doc);
  if (!(endsWithMapPath(helmKey, path) || tag !== undefined)) return undefined;
  const context = path.length === 0 ? '(top level)' : path.join('.');
  if (repository.value.includes('{{')) {
    return {
      kind: 'unknown',
      offset: repository.range?.[0] ?? 0,
      value: repository.value,
      why: 'the repository is a Helm template expression',
      context,
    };
  }
  const registry = asStringScalar(getValue(map, 'registry', doc), doc);
  const digest = asScalar(getValue(map, helmKey.key, doc), doc);
  return {
    kind: 'helm',
    map,
    repository,
    ...(registry ? { registry } : {}),
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
    context,
  };
}
