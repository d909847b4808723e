import type { YAMLMap } from 'yaml';
import type { ImageSite } from '../image-sites';
import { imageValueSite } from '../image-sites';
import type { ParsedDocument } from '../yamlnodes';
import { asMap, asScalar, entries, getValue } from '../yamlnodes';

// Compose files: `services.<name>.image`, including images a service takes from an anchor
// (`<<: *defaults`); the anchor's scalar is the one changed.

export function composeSites(doc: ParsedDocument, root: YAMLMap): ImageSite[] {
  const services = asMap(getValue(root, 'services', doc), doc);
  if (services === undefined) return [];
  const sites: ImageSite[] = [];
  for (const { key, pair } of entries(services, doc)) {
    const service = asMap(pair.value, doc);
    if (service === undefined) continue;
    const image = getValue(service, 'image', doc);
    if (image === undefined) continue;
    const scalar = asScalar(image, doc);
    const site = imageValueSite(
      scalar?.value ?? image,
      scalar,
      scalar?.range?.[0] ?? service.range?.[0] ?? 0,
      `service ${key}`,
    );
    if (site !== undefined) sites.push(site);
  }
  return sites;
}
