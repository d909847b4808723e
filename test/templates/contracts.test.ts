import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { taskJsonPath } from '../tasks/sources';
import { CONTRACTS_FILE, tasks } from './harness';
import { contractDrift, fromContract, fromTaskJson } from './validate/tasks';

describe('templates: task contracts', () => {
  it('every contract entry agrees with the task.json that has landed for it', () => {
    assert.deepEqual(tasks().drift, []);
  });

  it('prefers a real task.json and falls back to the contract only where there is none', () => {
    for (const def of tasks().tasks.values()) {
      const landed = existsSync(taskJsonPath(def.name));
      assert.equal(def.source, landed ? 'task.json' : 'contract', def.ref);
    }
    for (const name of ['DigestCapture@1', 'DigestLock@1', 'DigestPromote@1', 'DigestPin@1', 'DigestEvidence@1'])
      assert.ok(tasks().tasks.has(name), name);
  });

  it('reports a contract that disagrees with a task.json', () => {
    const real = fromTaskJson(taskJsonPath('DigestCapture'));
    const contract = fromContract(
      'DigestCapture',
      {
        major: 1,
        inputs: [
          { name: 'image', type: 'string', required: 'true' },
          { name: 'connectionType', type: 'pickList', options: ['auto', 'anonymous'] },
        ],
        outputVariables: ['IMAGE_DIGEST'],
      },
      CONTRACTS_FILE,
    );
    const drift = contractDrift(contract, real).join('\n');
    assert.match(drift, /input connectionType options auto\|anonymous in the contract/);
    assert.match(drift, /input metadataFile is in task.json but not in the contract/);
    assert.match(drift, /output variables IMAGE_DIGEST in the contract/);
  });
});
