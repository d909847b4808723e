import assert from 'node:assert/strict';
import type { Asked, RegistryErrorEntry } from '../../src/registry/error-answers';
import { answerCode } from '../../src/registry/error-answers';

// The one mapping from a registry's error answer (status and distribution error codes) to our
// error codes, as a table: what was asked, the answer, the code every caller reports.

const entries = (...codes: string[]): RegistryErrorEntry[] => codes.map((code) => ({ code, message: '' }));

const table: [asked: Asked, status: number, codes: string[], expected: ReturnType<typeof answerCode>][] = [
  // Refused: whatever was asked, a 403 is DENIED.
  ['manifest read', 403, ['DENIED'], 'DENIED'],
  ['manifest write', 403, [], 'DENIED'],
  ['blob read', 403, [], 'DENIED'],
  ['blob write', 403, ['DENIED'], 'DENIED'],
  ['properties', 403, [], 'DENIED'],
  // Not there: the repository when the registry says NAME_UNKNOWN, else what was read.
  ['manifest read', 404, ['NAME_UNKNOWN'], 'NAME_UNKNOWN'],
  ['manifest read', 404, ['MANIFEST_UNKNOWN'], 'MANIFEST_UNKNOWN'],
  ['manifest read', 404, [], 'MANIFEST_UNKNOWN'],
  ['properties', 404, ['NAME_UNKNOWN'], 'NAME_UNKNOWN'],
  ['properties', 404, [], 'MANIFEST_UNKNOWN'],
  ['blob read', 404, ['NAME_UNKNOWN'], 'NAME_UNKNOWN'],
  ['blob read', 404, ['BLOB_UNKNOWN'], 'BLOB_UNKNOWN'],
  ['blob read', 404, [], 'BLOB_UNKNOWN'],
  ['blob write', 404, ['NAME_UNKNOWN'], 'NAME_UNKNOWN'],
  ['manifest write', 404, ['NAME_UNKNOWN'], 'NAME_UNKNOWN'],
  // A 404 to a write that names nothing is no "not found" of ours: the caller reports it as unexpected.
  ['blob write', 404, [], undefined],
  ['manifest write', 404, [], undefined],
  // A manifest refused for a blob it names, whatever the status.
  ['manifest write', 400, ['MANIFEST_BLOB_UNKNOWN'], 'BLOB_UNKNOWN'],
  ['manifest write', 404, ['BLOB_UNKNOWN'], 'BLOB_UNKNOWN'],
  ['manifest read', 400, ['MANIFEST_BLOB_UNKNOWN'], undefined],
  // Bytes that do not hash to their digest.
  ['blob write', 400, ['DIGEST_INVALID'], 'DIGEST_MISMATCH'],
  ['blob read', 400, ['DIGEST_INVALID'], 'DIGEST_MISMATCH'],
  ['manifest write', 400, ['DIGEST_INVALID'], undefined],
  ['blob write', 400, [], undefined],
  // Everything else is the caller's unexpected answer.
  ['manifest read', 500, ['UNKNOWN'], undefined],
  ['manifest read', 401, ['UNAUTHORIZED'], undefined],
  ['blob read', 429, ['TOOMANYREQUESTS'], undefined],
  ['properties', 405, ['UNSUPPORTED'], undefined],
];

describe('registry error answers mapped to our codes', () => {
  for (const [asked, status, codes, expected] of table) {
    it(`${asked}: ${status}${codes.length ? ` ${codes.join(', ')}` : ''} is ${expected ?? 'unexpected (REGISTRY_ERROR)'}`, () => {
      assert.equal(answerCode(status, entries(...codes), asked), expected);
    });
  }
});
