import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lab/paths';
import { ExpansionError } from './expander/errors';
import type { Value, ValueMap } from './expander/values';
import { isMap } from './expander/values';
import { TEMPLATES_RESOURCE, check, environments, expand, jobsOf, serviceRepo, services } from './harness';

// templates/retention.yml, the scheduled retention pipeline: one DigestRetain@1 step per service and
// environment, signed in as the environment is, in one job so they run one after another; the
// platform's clean-up in a stage of its own that runs only when every one of them succeeded.

function stepsOf(job: ValueMap): ValueMap[] {
  const steps = job['steps'];
  assert.ok(Array.isArray(steps));
  return steps.filter((s): s is ValueMap => isMap(s));
}

function retention(parameters: ValueMap): ValueMap {
  return {
    trigger: 'none',
    resources: TEMPLATES_RESOURCE,
    extends: { template: 'templates/retention.yml@templates', parameters },
  };
}

describe('templates: retention.yml', function () {
  this.timeout(120_000);

  it('the example schedule expands from the @templates repository, validates, and cleans up only after every step kept its releases', () => {
    const examples = join(ROOT, 'examples');
    const result = check(expand(join(examples, 'retention-pipeline.yml'), examples));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    const stages = result.pipeline['stages'] as Value[];
    assert.deepEqual(
      stages.map((s) => (isMap(s) ? [s['stage'], s['dependsOn'] ?? null, s['condition'] ?? null] : null)),
      [
        ['Retain', null, null],
        ['CleanUp', 'Retain', 'succeeded()'],
      ],
    );
    const [retain] = jobsOf(result.pipeline, 'Retain');
    const steps = stepsOf(retain!);
    const tasks = steps.filter((s) => s['task'] === 'DigestRetain@1');
    assert.deepEqual(
      tasks.map((s) => s['name']),
      [
        'retain_staging_orders_api',
        'retain_staging_payments',
        'retain_staging_storefront',
        'retain_production_orders_api',
        'retain_production_payments',
        'retain_production_storefront',
      ],
    );
    assert.deepEqual(tasks[3]!['inputs'], {
      repository: 'contosoprod.azurecr.io/shop/orders-api',
      environments: 'production',
      keepReleases: 3,
      keepDays: 60,
      keepRollbackTargets: true,
      action: 'protect',
      failOnUnsupported: true,
      outputPath: '$(Build.ArtifactStagingDirectory)/keep/production-orders-api.json',
      connectionType: 'azureRM',
      azureSubscription: 'arm-contoso-prod',
    });
    const publish = steps[steps.length - 1]!;
    assert.equal(publish['condition'], 'succeededOrFailed()', 'the keep lists are published also when a step failed');
    const cleanup = stepsOf(jobsOf(result.pipeline, 'CleanUp')[0]!);
    assert.deepEqual(
      cleanup.map((s) => s['task'] ?? Object.keys(s)[0]),
      ['checkout', 'download', 'AzureCLI@2', 'AzureCLI@2'],
    );
  });

  it('takes the services and environments of pipeline.yml as they are; without clean-up steps it keeps and reports only', () => {
    const repo = serviceRepo(
      retention({
        services: services(['api', 'my-web']),
        environments: environments(['dev', 'prod-eu']),
        action: 'report',
      }),
    );
    const result = check(expand(repo.file, repo.root));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    assert.deepEqual(
      (result.pipeline['stages'] as ValueMap[]).map((s) => s['stage']),
      ['Retain'],
    );
    const tasks = stepsOf(jobsOf(result.pipeline, 'Retain')[0]!).filter((s) => s['task'] === 'DigestRetain@1');
    assert.deepEqual(
      tasks.map((s) => [
        s['name'],
        (s['inputs'] as ValueMap)['repository'],
        (s['inputs'] as ValueMap)['connectionType'],
      ]),
      [
        ['retain_dev_api', 'contosodev.azurecr.io/shop/api', 'dockerRegistry'],
        ['retain_dev_my_web', 'contosodev.azurecr.io/shop/my-web', 'dockerRegistry'],
        ['retain_prod_eu_api', 'contosoprodeu.azurecr.io/shop/api', 'azureRM'],
        ['retain_prod_eu_my_web', 'contosoprodeu.azurecr.io/shop/my-web', 'azureRM'],
      ],
    );
    assert.equal((tasks[0]!['inputs'] as ValueMap)['action'], 'report');
  });

  it('refuses an action it does not know, naming the template', () => {
    const repo = serviceRepo(retention({ services: services(['api']), environments: environments(['dev']) }));
    writeFileSync(repo.file, readFileSync(repo.file, 'utf8').replace('services:', 'action: purge\n    services:'));
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) => e instanceof ExpansionError && e.message.includes('retention.yml') && e.message.includes('purge'),
    );
  });
});
