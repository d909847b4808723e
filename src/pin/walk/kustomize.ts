import type { YAMLMap } from 'yaml';
import type { ImageSite } from '../image-sites';
import type { ParsedDocument } from '../yamlnodes';
import { asMap, asScalar, asSeq, asStringScalar, getValue } from '../yamlnodes';

// kustomization.yaml `images:` entries. The digest goes in `digest:`; `newTag` stays as written
// (kustomize uses the digest when one is set).

export function kustomizeSites(doc: ParsedDocument, root: YAMLMap): ImageSite[] {
  const images = asSeq(getValue(root, 'images', doc), doc);
  if (images === undefined) return [];
  const sites: ImageSite[] = [];
  for (const item of images.items) {
    const map = asMap(item, doc);
    if (map === undefined) continue;
    const name = asStringScalar(getValue(map, 'name', doc), doc);
    if (name === undefined) {
      sites.push({
        kind: 'unknown',
        offset: map.range?.[0] ?? 0,
        value: String(map),
        why: 'the images entry has no name',
        context: 'kustomization images',
      });
      continue;
    }
    const newName = asStringScalar(getValue(map, 'newName', doc), doc);
    const newTag = asScalar(getValue(map, 'newTag', doc), doc);
    const digest = asScalar(getValue(map, 'digest', doc), doc);
    sites.push({
      kind: 'kustomize',
      map,
      name,
      ...(newName ? { newName } : {}),
      ...(newTag ? { newTag } : {}),
      ...(digest ? { digest } : {}),
      context: `kustomization images ${name.value}`,
    });
  }
  return sites;
}
