import { isRecord } from '../json';
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
  let text: string;
  try {
    const bytes = await response.bytesUpTo(MAX_ERROR_BODY_BYTES);
    if (bytes === undefined) return [];
    text = bytes.toString('utf8');
  } catch {
    return [];
  }
  try {
    const doc: unknown = JSON.parse(text);
    if (!isRecord(doc) || !Array.isArray(doc.errors)) return [];
    const entries: RegistryErrorEntry[] = [];
    for (const item of doc.errors) {
      if (!isRecord(item)) continue;
      const { code, message } = item;
      entries.push({ code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' });
    }
    return entries;
  } catch {
    return [];
  }
}

export function describeErrors(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => [e.code, e.message].filter((part) => part).join(': ')).join('; ');
}
