/** Shared set-up for the template tests: the task catalogue, the schema, and pipelines to expand. */
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from '../support/paths';
import { Expander } from './expander/expand';
import { Value, ValueMap } from './expander/values';
import { ReferenceChecker } from './validate/references';
import { PipelineSchema, SCHEMA_FILE } from './validate/schema';
import { TaskCatalog, loadTasks } from './validate/tasks';

export const CONTRACTS_FILE = join(ROOT, 'test', 'templates', 'task-contracts.json');

let catalog: TaskCatalog | undefined;
export function tasks(): TaskCatalog {
  catalog ??= loadTasks(ROOT, CONTRACTS_FILE);
  return catalog;
}

let schema: PipelineSchema | undefined;
/** Compiling the 1.6 MB schema takes seconds: once per run. */
export function pipelineSchema(): PipelineSchema {
  schema ??= new PipelineSchema(SCHEMA_FILE, tasks().tasks.values());
  return schema;
}

export interface Checked {
  pipeline: ValueMap;
  schemaProblems: string[];
  referenceProblems: string[];
}

export function check(pipeline: ValueMap): Checked {
  return {
    pipeline,
    schemaProblems: pipelineSchema().check(pipeline),
    referenceProblems: new ReferenceChecker(pipeline, tasks().tasks).check(),
  };
}

/** A service team's repository in a temporary directory, holding one pipeline file. */
export function serviceRepo(pipeline: ValueMap): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'digest-release-templates-'));
  const file = join(root, 'azure-pipelines.yml');
  writeFileSync(file, stringify(pipeline));
  return { root, file };
}

/** A copy of the template repository (templates/ at its root), to break on purpose. */
export function templateRepoCopy(): string {
  const root = mkdtempSync(join(tmpdir(), 'digest-release-template-repo-'));
  cpSync(join(ROOT, 'templates'), join(root, 'templates'), { recursive: true });
  return root;
}

export function expand(file: string, selfRoot: string, templatesRoot: string = ROOT): ValueMap {
  return new Expander({ selfRoot, repositories: { templates: templatesRoot } }).expandPipeline(file);
}

export const TEMPLATES_RESOURCE: ValueMap = {
  repositories: [{ repository: 'templates', type: 'git', name: 'platform/pipeline-templates', ref: 'refs/tags/v1' }],
};

/** A pipeline extending templates/pipeline.yml@templates. */
export function extending(parameters: ValueMap): ValueMap {
  return { trigger: 'none', resources: TEMPLATES_RESOURCE, extends: { template: 'templates/pipeline.yml@templates', parameters } };
}

const METHODS = ['kubernetes', 'helm', 'containerApps'];

export function services(names: string[]): ValueMap[] {
  return names.map((name, i) => {
    const method = METHODS[i % METHODS.length]!;
    const deploy: ValueMap = { method };
    if (method === 'kubernetes') deploy['manifests'] = `deploy/${name}/*.yaml`;
    if (method === 'helm') deploy['chartPath'] = `charts/${name}`;
    const service: ValueMap = { name, repository: `shop/${name}`, dockerfile: `src/${name}/Dockerfile`, context: `src/${name}`, deploy };
    if (i % 2 === 1) service['builder'] = 'buildx';
    return service;
  });
}

export function environments(names: string[]): ValueMap[] {
  return names.map((name, i) => {
    const env: ValueMap = {
      name,
      registry: `contoso${name.replace(/[^a-z0-9]/g, '')}.azurecr.io`,
      dockerRegistryServiceConnection: `acr-${name}`,
      deploy: { kubernetesServiceConnection: `aks-${name}`, namespace: 'shop', azureSubscription: `arm-${name}`, resourceGroup: `rg-${name}` },
    };
    if (i > 0) env['promoteFrom'] = names[i - 1]!;
    if (i % 2 === 1) env['azureSubscription'] = `arm-${name}`;
    return env;
  });
}

export function multiService(serviceNames: string[], environmentNames: string[]): ValueMap {
  return extending({
    buildRegistry: 'contosobuild.azurecr.io',
    buildServiceConnection: 'acr-build',
    services: services(serviceNames),
    environments: environments(environmentNames),
  });
}

export function jobsOf(pipeline: ValueMap, stage: string): ValueMap[] {
  const stages = pipeline['stages'];
  const found = Array.isArray(stages) ? stages.find((s: Value) => typeof s === 'object' && s !== null && !Array.isArray(s) && s['stage'] === stage) : undefined;
  if (found === undefined || found === null || typeof found !== 'object' || Array.isArray(found)) throw new Error(`no stage ${stage}`);
  const jobs = found['jobs'];
  if (!Array.isArray(jobs)) throw new Error(`stage ${stage} has no jobs`);
  return jobs.filter((j): j is ValueMap => typeof j === 'object' && j !== null && !Array.isArray(j));
}

/** One deployment job whose steps come from a template of the templates repository. */
export function deploymentWith(template: string, parameters: ValueMap, before: ValueMap[] = []): ValueMap {
  return {
    trigger: 'none',
    resources: TEMPLATES_RESOURCE,
    stages: [
      {
        stage: 'Release',
        jobs: [
          {
            deployment: 'release',
            environment: 'production',
            pool: { vmImage: 'ubuntu-latest' },
            strategy: { runOnce: { deploy: { steps: [...before, { template: `templates/${template}@templates`, parameters }] } } },
          },
        ],
      },
    ],
  };
}
