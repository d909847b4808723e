import type { YAMLMap } from 'yaml';
import { isMap, isSeq } from 'yaml';
import type { ImageSite } from '../image-sites';
import { imageValueSite } from '../image-sites';
import type { ParsedDocument } from '../yamlnodes';
import { asMap, asScalar, asSeq, entries, getString, getValue, resolve } from '../yamlnodes';

// Kubernetes objects: every container list of every pod spec, wherever the kind keeps it
// (Pod: spec; Deployment, StatefulSet, DaemonSet, ReplicaSet, Job: spec.template.spec; CronJob:
// spec.jobTemplate.spec.template.spec). Other kinds, custom resources such as Argo Rollouts or
// Knative Services included, are searched for the same lists. `List` objects hold objects in items.

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

export function kubernetesSites(doc: ParsedDocument, object: YAMLMap): ImageSite[] {
  const kind = getString(object, 'kind', doc) ?? 'object';
  if (kind === 'List' || kind.endsWith('List')) {
    const items = asSeq(getValue(object, 'items', doc), doc);
    return (items?.items ?? []).flatMap((item) => {
      const map = asMap(item, doc);
      return map === undefined ? [] : kubernetesSites(doc, map);
    });
  }
  const name = asMap(getValue(object, 'metadata', doc), doc);
  const label = `${kind}/${(name && getString(name, 'name', doc)) ?? '(no name)'}`;
  const sites: ImageSite[] = [];
  const seen = new Set<unknown>();
  const search = (node: unknown): void => {
    const resolved = resolve(node, doc);
    if (resolved === undefined || seen.has(resolved)) return;
    seen.add(resolved);
    if (isSeq(resolved)) {
      for (const item of resolved.items) search(item);
      return;
    }
    if (!isMap(resolved)) return;
    for (const { key, pair } of entries(resolved, doc)) {
      const list = (CONTAINER_LISTS as readonly string[]).includes(key) ? asSeq(pair.value, doc) : undefined;
      if (list === undefined) {
        search(pair.value);
        continue;
      }
      for (const item of list.items) {
        const container = asMap(item, doc);
        if (container === undefined) continue;
        const image = getValue(container, 'image', doc);
        if (image === undefined) continue;
        const containerName = getString(container, 'name', doc) ?? '(no name)';
        const scalar = asScalar(image, doc);
        const offset = scalar?.range?.[0] ?? container.range?.[0] ?? 0;
        const site = imageValueSite(scalar?.value ?? image, scalar, offset, `${label} ${key} ${containerName}`);
        if (site !== undefined) sites.push(site);
      }
    }
  };
  search(getValue(object, 'spec', doc));
  return sites;
}
