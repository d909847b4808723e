import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { canonicalJson } from '../../src/evidence/canonical';
import { parseEvidence } from '../../src/evidence/parse';
import { PREDICATE_TYPE } from '../../src/evidence/predicate';
import { serialiseEvidence } from '../../src/evidence/statement';
import { sha256Of } from '../../src/reference/digest';
import { ROOT } from '../../lab/paths';
import { samplePredicate } from './helpers';

// The evidence document: an in-toto Statement v1 that validates against the schema we ship, and
// whose bytes (so EVIDENCE_DIGEST) depend only on the facts.

function schema(name: string): object {
  const doc: unknown = JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8'));
  if (typeof doc !== 'object' || doc === null) throw new Error(`${name} is not a schema`);
  return doc;
}

describe('evidence: the in-toto statement', () => {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\S+$/i);
  const validatePredicate = ajv.compile(schema('evidence-predicate.schema.json'));
  const validateStatement = ajv.compile(schema('in-toto-statement-v1.schema.json'));

  const parse = (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes).toString('utf8'));

  it('is an in-toto Statement v1 whose subject is the image digest', () => {
    const { bytes, statement } = serialiseEvidence(samplePredicate());
    const doc = parse(bytes);
    assert.ok(validateStatement(doc), JSON.stringify(validateStatement.errors));
    assert.equal(statement.predicateType, PREDICATE_TYPE);
    assert.deepEqual(statement.subject, [
      {
        name: 'myacr.azurecr.io/shop/web',
        digest: { sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' },
      },
    ]);
  });

  it('has a predicate that validates against schemas/evidence-predicate.schema.json', () => {
    const doc = parse(serialiseEvidence(samplePredicate()).bytes);
    assert.ok(typeof doc === 'object' && doc !== null);
    assert.ok(validatePredicate(Reflect.get(doc, 'predicate')), JSON.stringify(validatePredicate.errors));
  });

  it('validates with every unknown fact null', () => {
    const predicate = samplePredicate({
      environment: null,
      scan: { status: 'unknown', report: null },
      approval: { source: 'azureDevOps', status: 'unavailable', reason: 'no token', approvers: [] },
      rollback: { digest: null, source: 'none', evidence: null, reason: null },
    });
    assert.ok(validatePredicate(predicate), JSON.stringify(validatePredicate.errors));
  });

  it('is refused by the schema when a fact has the wrong shape', () => {
    const bad = { ...samplePredicate(), scan: { status: 'ok', report: null } };
    assert.equal(validatePredicate(bad), false);
    const badDigest = {
      ...samplePredicate(),
      rollback: { digest: 'sha256:ABC', source: 'input', evidence: null, reason: null },
    };
    assert.equal(validatePredicate(badDigest), false);
  });

  it('serialises deterministically: sorted keys, no white space, same facts same digest', () => {
    const a = serialiseEvidence(samplePredicate());
    const reordered = Object.fromEntries(Object.entries(samplePredicate()).reverse());
    assert.equal(canonicalJson(reordered), canonicalJson(samplePredicate()));
    const b = serialiseEvidence(samplePredicate());
    assert.equal(a.digest, b.digest);
    assert.equal(a.digest, sha256Of(a.bytes));
    const text = Buffer.from(a.bytes).toString('utf8');
    assert.ok(!/[\n\r\t]|": |, "/.test(text), 'no insignificant white space');
    assert.ok(
      text.startsWith('{"_type":"https://in-toto.io/Statement/v1","predicate":{"approval":'),
      text.slice(0, 80),
    );
    assert.notEqual(
      serialiseEvidence(samplePredicate({ environment: 'staging' })).digest,
      a.digest,
      'another fact, another digest',
    );
  });

  it('escapes strings as JSON does and refuses fractional numbers', () => {
    assert.equal(canonicalJson({ b: 'a"\n\u2028', a: [1, null, true] }), '{"a":[1,null,true],"b":"a\\"\\n\u2028"}');
    assert.throws(() => canonicalJson({ n: 1.5 }), /whole numbers/);
  });

  it('reads back what it wrote, and refuses a predicate whose image is not the subject', () => {
    const { bytes, digest } = serialiseEvidence(samplePredicate());
    const read = parseEvidence(bytes, 'test')!;
    assert.equal(read.digest, digest);
    assert.equal(read.subjectDigest, samplePredicate().image.digest);
    assert.equal(read.environment, 'prod');
    assert.equal(read.scanStatus, 'passed');
    const doc = parse(bytes);
    assert.ok(typeof doc === 'object' && doc !== null);
    Reflect.set(doc, 'subject', [{ name: 'x', digest: { sha256: 'f'.repeat(64) } }]);
    assert.throws(() => parseEvidence(Buffer.from(JSON.stringify(doc)), 'test'), /image.digest .* is not the subject/);
  });

  it('ignores statements of another predicate type', () => {
    const other = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [],
        predicateType: 'https://spdx.dev/Document',
        predicate: {},
      }),
    );
    assert.equal(parseEvidence(other, 'test'), undefined);
  });
});
