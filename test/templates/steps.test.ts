import { strict as assert } from 'node:assert';
import { ExpansionError } from './expander/errors';
import type { Value, ValueMap } from './expander/values';
import { isMap } from './expander/values';
import { TEMPLATES_RESOURCE, check, deploymentWith, expand, serviceRepo } from './harness';

function expandChecked(pipeline: ValueMap) {
  const repo = serviceRepo(pipeline);
  const result = check(expand(repo.file, repo.root));
  assert.deepEqual(result.schemaProblems, []);
  assert.deepEqual(result.referenceProblems, []);
  return result;
}

function at(v: Value | undefined, ...path: Array<string | number>): Value {
  let cur: Value | undefined = v;
  for (const key of path) {
    if (typeof key === 'number' && Array.isArray(cur)) cur = cur[key];
    else if (typeof key === 'string' && isMap(cur)) cur = cur[key];
    else throw new Error(`no ${String(key)} in ${JSON.stringify(cur)}`);
  }
  if (cur === undefined) throw new Error(`nothing at ${path.join('.')}`);
  return cur;
}

function steps(result: ReturnType<typeof expandChecked>): ValueMap[] {
  const list = at(result.pipeline, 'stages', 0, 'jobs', 0, 'strategy', 'runOnce', 'deploy', 'steps');
  assert.ok(Array.isArray(list));
  return list.filter(isMap);
}

const image = `contosoprod.azurecr.io/shop/api@sha256:${'a'.repeat(64)}`;

describe('templates: step templates on their own', function () {
  this.timeout(120_000);

  it('rollback-to-digest.yml checks the target exists and has evidence before it deploys', () => {
    const result = expandChecked(
      deploymentWith('rollback-to-digest.yml', {
        name: 'api',
        image,
        environment: 'production',
        azureSubscription: 'arm-prod',
        artifactName: 'evidence_rollback_production_api',
        deploy: {
          method: 'kubernetes',
          manifests: 'deploy/*.yaml',
          kubernetesServiceConnection: 'aks-prod',
          allowedRegistries: 'contosoprod.azurecr.io',
        },
      }),
    );
    const list = steps(result);
    assert.deepEqual(
      list.map((s) => s['name'] ?? s['task']),
      ['rollback', 'rollback_verify', 'pin', 'pin_check', 'KubernetesManifest@1', 'deployed', 'rollback_evidence'],
    );
    assert.equal(JSON.stringify(list[1]).includes('"mode":"verify"'), true);
    assert.equal(JSON.stringify(list[2]).includes('$(rollback.IMAGE_REF)'), true);
  });

  for (const method of ['helm', 'containerApps']) {
    it(`deploy-with-digest.yml deploys with ${method} by digest`, () => {
      const result = expandChecked(
        deploymentWith(
          'deploy-with-digest.yml',
          {
            name: 'api',
            imageRef: '$(promote.IMAGE_REF)',
            imageDigest: '$(promote.IMAGE_DIGEST)',
            imageRepository: 'contosoprod.azurecr.io/shop/api',
            method,
            chartPath: 'charts/api',
            releaseName: 'api',
            kubernetesServiceConnection: 'aks-prod',
            azureSubscription: 'arm-prod',
            resourceGroup: 'rg',
            containerAppName: 'api',
          },
          [
            {
              task: 'DigestPromote@1',
              name: 'promote',
              inputs: { source: image, target: 'contosoprod.azurecr.io/shop/api' },
            },
          ],
        ),
      );
      const deploy = steps(result).find(
        (s) => s['task'] === (method === 'helm' ? 'HelmDeploy@0' : 'AzureContainerApps@1'),
      );
      const text = JSON.stringify(deploy);
      if (method === 'helm') assert.ok(text.includes('--set image.digest=$(promote.IMAGE_DIGEST)'), text);
      else assert.ok(text.includes('"imageToDeploy":"$(promote.IMAGE_REF)"'), text);
    });
  }

  it('build-with-digest.yml without the lock still captures', () => {
    const pipeline: ValueMap = {
      trigger: 'none',
      resources: TEMPLATES_RESOURCE,
      jobs: [
        {
          job: 'build',
          steps: [
            {
              template: 'templates/build-with-digest.yml@templates',
              parameters: {
                name: 'api',
                registry: 'r.example',
                repository: 'api',
                dockerRegistryServiceConnection: 'c',
                lock: 'false',
              },
            },
          ],
        },
      ],
    };
    const repo = serviceRepo(pipeline);
    const expanded = expand(repo.file, repo.root);
    const text = JSON.stringify(expanded);
    assert.ok(text.includes('DigestCapture@1') && !text.includes('DigestLock@1'), text);
  });
});

describe('templates: the expander refuses what it does not implement', () => {
  function expandSteps(stepsYaml: ValueMap[]): unknown {
    const repo = serviceRepo({ trigger: 'none', resources: TEMPLATES_RESOURCE, steps: stepsYaml });
    return expand(repo.file, repo.root);
  }
  const refuses = (stepsYaml: ValueMap[], text: string): void =>
    assert.throws(
      () => expandSteps(stepsYaml),
      (e: unknown) => e instanceof ExpansionError && e.message.includes(text),
    );

  it('a function outside the subset', () =>
    refuses([{ script: "${{ trim('x') }}" }], 'trim() is outside the supported subset'));
  it('variables in a template expression', () =>
    refuses([{ script: '${{ variables.x }}' }], "unknown name 'variables'"));
  it('an operator', () => refuses([{ script: '${{ 1 + 2 }}' }], "'+' is outside the supported expression subset"));
  it('insert', () => refuses([{ '${{ insert }}': [] }], 'outside the supported subset'));
  it('a template from an undeclared repository', () =>
    refuses([{ template: 'x.yml@other' }], 'repository other is not declared'));
  it('a missing required parameter', () =>
    refuses(
      [{ template: 'templates/promote-by-digest.yml@templates', parameters: { name: 'api', source: image } }],
      'parameter target is required',
    ));
});

describe('templates: the expander evaluates as the service does', () => {
  function script(expression: string, parameters: ValueMap[] = []): Value {
    const repo = serviceRepo({ trigger: 'none', parameters, steps: [{ script: expression }] });
    const steps = expand(repo.file, repo.root)['steps'];
    assert.ok(Array.isArray(steps) && isMap(steps[0]));
    return steps[0]['script'] ?? null;
  }
  const services: ValueMap = {
    name: 'services',
    type: 'object',
    default: [{ name: 'api' }, { name: 'web', deploy: { method: 'helm' } }, { other: 1 }],
  };

  it('replace() ignores case, as Functions/v1/Replace.cs does', () =>
    assert.equal(script("${{ replace('sha256:ABCdef', 'c', '') }}"), 'sha256:ABdef'));
  it('a filtered array takes the property from each item that has it', () => {
    assert.equal(script("${{ join(',', parameters.services.*.name) }}", [services]), 'api,web');
    assert.equal(script("${{ containsValue(parameters.services.*.name, 'WEB') }}", [services]), true);
    assert.equal(script("${{ containsValue(parameters.services.*.name, 'db') }}", [services]), false);
    assert.equal(script("${{ join(',', parameters.services.*.deploy.method) }}", [services]), 'helm');
  });
  it('and() and or() stop at the argument that decides, as the service does', () => {
    assert.equal(script("${{ and(false, split(parameters.services, '@')) }}", [services]), false);
    assert.equal(script("${{ or(true, split(parameters.services, '@')) }}", [services]), true);
  });
  it('contains(), startsWith() and in() ignore case; split() and upper() as documented', () => {
    assert.equal(script("${{ contains('$(System.JobAttempt)', 'system.jobattempt') }}"), true);
    assert.equal(script("${{ startsWith('SHA256:x', 'sha256:') }}"), true);
    assert.equal(script("${{ in('Task', 'checkout', 'task') }}"), true);
    assert.equal(script("${{ split('AzureCLI@2', '@')[0] }}"), 'AzureCLI');
    assert.equal(script("${{ upper('my_api') }}"), 'MY_API');
  });
});
