import { isRecord } from '../json';
import { readJsonUpTo } from './bounded';
import { HttpResponse } from './http';

// The distribution error envelope: {"errors":[{"code","message","detail"}]}. Registries fill it
// unevenly (ACR's detail is sometimes a list, sometimes an object), so only code and message are read.

export interface RegistryErrorEntry {
  readonly code: string;
  readonly message: string;
}

/** An error envelope is a few lines; a larger error answer (a proxy's page, a stream) is not read on. */
export const MAX_ERROR_BODY_BYTES = 256 * 1024;

export async function readErrorBody(response: HttpResponse): Promise<RegistryErrorEntry[]> {
  // The status is the failure; a body too large or broken off only leaves it unexplained.
  const doc = await readJsonUpTo(response, { bytes: MAX_ERROR_BODY_BYTES, what: 'The error answer', kind: 'an error answer', code: 'REGISTRY_ERROR' }).catch(() => undefined);
  if (!isRecord(doc) || !Array.isArray(doc.errors)) return [];
  const entries: RegistryErrorEntry[] = [];
  for (const item of doc.errors) {
    if (!isRecord(item)) continue;
    const { code, message } = item;
    entries.push({ code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' });
  }
  return entries;
}

export function describeErrors(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => [e.code, e.message].filter((part) => part).join(': ')).join('; ');
}
