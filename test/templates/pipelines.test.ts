import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lab/paths';
import { ExpansionError } from './expander/errors';
import type { ValueMap } from './expander/values';
import { isMap } from './expander/values';
import { check, expand, jobsOf, multiService, platform, serviceRepo } from './harness';

/** The platform of these tests created every environment they name. */
const ENVIRONMENTS = ['dev', 'staging', 'prod', 'prod-eu'];

function expandAndCheck(
  serviceNames: string[],
  environmentNames: string[],
  templatesRoot: string = platform({ environments: ENVIRONMENTS }),
) {
  const repo = serviceRepo(multiService(serviceNames, environmentNames));
  return check(expand(repo.file, repo.root, templatesRoot));
}

describe('templates: the example pipeline', function () {
  this.timeout(120_000);

  it('expands from the @templates repository, matches the pipeline schema and every digest reference resolves', () => {
    const examples = join(ROOT, 'examples');
    const result = check(expand(join(examples, 'azure-pipelines.yml'), examples));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    const stages = result.pipeline['stages'];
    assert.ok(Array.isArray(stages));
    assert.deepEqual(
      stages.map((s) => (isMap(s) ? s['stage'] : null)),
      ['Build', 'env_staging', 'env_production'],
    );
    assert.deepEqual(
      jobsOf(result.pipeline, 'env_production').map((j) => j['deployment'] ?? j['job']),
      ['deploy_orders_api', 'deploy_payments', 'deploy_storefront', 'evidence'],
    );
  });
});

describe('templates: multi-service through the platform extends template', function () {
  this.timeout(120_000);

  for (const count of [1, 3, 20]) {
    it(`wires ${count} service(s) through two environments`, () => {
      const names = Array.from({ length: count }, (_, i) => `svc${i}`);
      const result = expandAndCheck(names, ['dev', 'prod']);
      assert.deepEqual(result.schemaProblems, []);
      assert.deepEqual(result.referenceProblems, []);
      assert.equal(jobsOf(result.pipeline, 'Build').filter((j) => j['job'] !== 'digests').length, count);
      const prod = jobsOf(result.pipeline, 'env_prod');
      assert.equal(prod.filter((j) => typeof j['deployment'] === 'string').length, count);
      assert.equal(prod.filter((j) => j['job'] === 'evidence').length, 1);
    });
  }

  it('wires three environments, each promoting from the one before', () => {
    const result = expandAndCheck(['api', 'web'], ['dev', 'staging', 'prod-eu']);
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    const deploy = jobsOf(result.pipeline, 'env_prod_eu')[0]!;
    assert.deepEqual((deploy['variables'] as ValueMap[])[0], {
      name: 'SOURCE_IMAGE_REF',
      value: "$[ stageDependencies.env_staging.deploy_api.outputs['deploy_api.promote.IMAGE_REF'] ]",
      readonly: 'true',
    });
  });

  it('maps - in a service name to _ in job names and in every reference to them', () => {
    const result = expandAndCheck(['my-api', 'web'], ['dev', 'prod']);
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    assert.equal(jobsOf(result.pipeline, 'Build')[0]!['job'], 'build_my_api');
    const dev = jobsOf(result.pipeline, 'env_dev');
    assert.equal(dev[0]!['deployment'], 'deploy_my_api');
    assert.deepEqual((dev[0]!['variables'] as ValueMap[])[0], {
      name: 'SOURCE_IMAGE_REF',
      value: "$[ stageDependencies.Build.build_my_api.outputs['capture.IMAGE_REF'] ]",
      readonly: 'true',
    });
    const evidence = dev.find((j) => j['job'] === 'evidence')!;
    assert.ok(
      JSON.stringify(evidence['variables']).includes(
        "dependencies.deploy_my_api.outputs['deploy_my_api.deployed.IMAGE_DIGEST']",
      ),
    );
  });

  it('fails, naming the service, for a name that cannot become a job name', () => {
    const result = expandAndCheck(['my.api'], ['dev']);
    assert.ok(
      result.referenceProblems.some((p) => p.includes('job name build_my.api is invalid')),
      result.referenceProblems.join('\n'),
    );
  });

  it('fails when two service names map to the same job name', () => {
    // The names meet first in the digests summary's environment, a key defined twice.
    assert.throws(
      () => expandAndCheck(['my-api', 'my_api'], ['dev']),
      (e: unknown) => e instanceof ExpansionError && e.message.includes('key DIGEST_MY_API is defined twice'),
    );
  });

  it('refuses to compile an environment after the first that does not say where it promotes from', () => {
    const pipeline = multiService(['api'], ['dev', 'prod']);
    const parameters = pipeline['extends'];
    assert.ok(isMap(parameters) && isMap(parameters['parameters']));
    const envs = parameters['parameters']['environments'];
    assert.ok(Array.isArray(envs) && isMap(envs[1]));
    delete envs[1]['promoteFrom'];
    const repo = serviceRepo(pipeline);
    const result = check(expand(repo.file, repo.root, platform({ environments: ENVIRONMENTS })));
    assert.ok(
      result.schemaProblems.some((p) => p.includes('environment prod needs promoteFrom')),
      result.schemaProblems.join('\n'),
    );
  });
});

describe('templates: a misspelt name in a copy of the templates is caught', function () {
  this.timeout(120_000);

  function broken(file: string, from: string, to: string): string[] {
    const root = platform({ environments: ENVIRONMENTS });
    const path = join(root, 'templates', file);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.includes(from), `${file} contains ${from}`);
    writeFileSync(path, text.replace(from, to));
    const result = expandAndCheck(['api', 'my-web'], ['dev', 'prod'], root);
    assert.deepEqual(result.schemaProblems, []);
    return result.referenceProblems;
  }

  it('the capture step misspelt in build-with-digest.yml', () => {
    const problems = broken('build-with-digest.yml', 'name: capture', 'name: captrue');
    assert.ok(
      problems.some(
        (p) =>
          p.includes("stageDependencies.Build.build_api.outputs['capture.IMAGE_REF']") &&
          p.includes('no step named capture'),
      ),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.includes('$(capture.IMAGE_DIGEST)') && p.includes('no step named capture')),
      problems.join('\n'),
    );
  });

  it('the promote step misspelt in promote-by-digest.yml', () => {
    const problems = broken('promote-by-digest.yml', 'name: promote', 'name: promot');
    assert.ok(
      problems.some(
        (p) => p.includes("outputs['deploy_my_web.promote.IMAGE_REF']") && p.includes('no step named promote'),
      ),
      problems.join('\n'),
    );
  });

  it('a deployment job output read without the job-name prefix', () => {
    const problems = broken(
      'multi-service.yml',
      "outputs['deploy_${{ replace(service.name, '-', '_') }}.promote.IMAGE_REF'] ]\n              readonly: true\n          - ${{ else }}",
      "outputs['promote.IMAGE_REF'] ]\n              readonly: true\n          - ${{ else }}",
    );
    assert.ok(
      problems.some((p) => p.includes('is a deployment job') && p.includes('stage env_prod')),
      problems.join('\n'),
    );
  });

  it('an output variable the task does not declare', () => {
    const problems = broken(
      'multi-service.yml',
      "}}.outputs['capture.IMAGE_REF']",
      "}}.outputs['capture.IMAGE_REFERENCE']",
    );
    assert.ok(
      problems.some((p) => p.includes('DigestCapture@1 (step capture) has no output variable IMAGE_REFERENCE')),
      problems.join('\n'),
    );
  });

  it('a stage read through stageDependencies without depending on it', () => {
    const problems = broken(
      'multi-service.yml',
      "        - env_${{ replace(env.promoteFrom, '-', '_') }}\n        - Build",
      '        - Build',
    );
    assert.ok(
      problems.some((p) => p.includes('reads stage env_dev, which stage env_prod does not depend on')),
      problems.join('\n'),
    );
  });
});

describe('templates: expansion errors name the template', () => {
  it('a parameter outside its values', () => {
    const repo = serviceRepo(multiService(['api'], ['staging']));
    const text = readFileSync(repo.file, 'utf8').replace('method: kubernetes', 'method: kubectl');
    writeFileSync(repo.file, text);
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) =>
        e instanceof ExpansionError && e.message.includes('deploy-with-digest.yml') && e.message.includes('kubectl'),
    );
  });

  it('an unknown parameter', () => {
    const repo = serviceRepo(multiService(['api'], ['staging']));
    const text = readFileSync(repo.file, 'utf8').replace('buildRegistry:', 'lock: false\n    buildRegistry:');
    writeFileSync(repo.file, text);
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) =>
        e instanceof ExpansionError && e.message.includes('templates/pipeline.yml: unexpected parameter lock'),
    );
  });
});
