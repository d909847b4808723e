import assert from 'node:assert/strict';
import { runFacts } from '../../src/evidence/pipeline-run';

describe('runFacts: the run a release came from, from the agent variables', () => {
  const facts = (variables: Record<string, string>) => runFacts((name) => variables[name]);

  it('names the job by its YAML name: System.PhaseName in a deployment job, whose System.JobName is __default', () => {
    assert.equal(facts({ 'System.JobName': '__default', 'System.PhaseName': 'deploy_web' }).job, 'deploy_web');
    assert.equal(facts({ 'System.JobName': 'build', 'System.PhaseName': 'build' }).job, 'build');
    assert.equal(
      facts({ 'System.JobName': 'linux', 'System.PhaseName': 'build' }).job,
      'linux',
      'a matrix leg keeps its own name',
    );
    assert.equal(facts({}).job, null);
  });
});
