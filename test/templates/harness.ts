/** Shared set-up for the template tests: the task catalogue, the schema, and pipelines to expand. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from '../../lab/paths';
import { Expander } from './expander/expand';
import type { Value, ValueMap } from './expander/values';
import { isMap } from './expander/values';
import { ReferenceChecker } from './validate/references';
import { PipelineSchema, SCHEMA_FILE } from './validate/schema';
import type { TaskCatalog } from './validate/tasks';
import { loadTasks } from './validate/tasks';

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

export function expand(
  file: string,
  selfRoot: string,
  templatesRoot: string = ROOT,
  runtimeParameters: ValueMap = {},
): ValueMap {
  return new Expander({ selfRoot, repositories: { templates: templatesRoot }, runtimeParameters }).expandPipeline(file);
}

/** The organisation's own settings in pipeline.yml, the lines marked PLATFORM. */
export interface PlatformSettings {
  /** The Azure Pipelines environments the platform created (allowedEnvironments). */
  environments?: string[];
  scanSteps?: ValueMap[];
  teamStepTasks?: string[];
}

function yamlList(items: readonly unknown[], indent: string): string {
  if (items.length === 0) return ' []';
  return items.map((item) => `\n${indent}- ${JSON.stringify(item)}`).join('');
}

/**
 * A copy of the template repository whose pipeline.yml holds these platform settings, edited
 * as a platform team edits it (the PLATFORM lines); anything not given stays as shipped.
 */
export function platform(settings: PlatformSettings): string {
  const root = templateRepoCopy();
  const path = join(root, 'templates', 'pipeline.yml');
  let text = readFileSync(path, 'utf8');
  const swap = (pattern: RegExp, replacement: string): void => {
    if (!pattern.test(text)) throw new Error(`pipeline.yml no longer matches ${String(pattern)}`);
    text = text.replace(pattern, replacement);
  };
  if (settings.environments)
    swap(/allowedEnvironments:(\n {4}- .*)+/, `allowedEnvironments:${yamlList(settings.environments, '    ')}`);
  if (settings.scanSteps) swap(/scanSteps: \[\]/, `scanSteps:${yamlList(settings.scanSteps, '    ')}`);
  if (settings.teamStepTasks) swap(/teamStepTasks: \[\]/, `teamStepTasks:${yamlList(settings.teamStepTasks, '    ')}`);
  writeFileSync(path, text);
  return root;
}

/**
 * Compile errors a template raised: the keys it put into the pipeline with the value
 * `error` (the service refuses the unexpected key and says "Unexpected value '<key>'";
 * the schema check reports it as an additional property).
 */
export function compileErrors(pipeline: Value): string[] {
  const found: string[] = [];
  const walk = (v: Value): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [key, value] of Object.entries(v)) {
        if (value === 'error') found.push(key);
        else walk(value);
      }
    }
  };
  walk(pipeline);
  return found;
}

export const TEMPLATES_RESOURCE: ValueMap = {
  repositories: [{ repository: 'templates', type: 'git', name: 'platform/pipeline-templates', ref: 'refs/tags/v1' }],
};

/** A pipeline extending templates/pipeline.yml@templates. */
export function extending(parameters: ValueMap): ValueMap {
  return {
    trigger: 'none',
    resources: TEMPLATES_RESOURCE,
    extends: { template: 'templates/pipeline.yml@templates', parameters },
  };
}

/** A platform's scan step: what scan-digest.yml asks of it. */
export const SCANNER: ValueMap = {
  bash: 'trivy image --exit-code 1 "$SCAN_IMAGE" && echo "##vso[task.setvariable variable=SCAN_STATUS]passed"',
  displayName: 'Scan',
};

const METHODS = ['kubernetes', 'helm', 'containerApps'];

export function services(names: string[]): ValueMap[] {
  return names.map((name, i) => {
    const method = METHODS[i % METHODS.length]!;
    const deploy: ValueMap = { method };
    if (method === 'kubernetes') deploy['manifests'] = `deploy/${name}/*.yaml`;
    if (method === 'helm') deploy['chartPath'] = `charts/${name}`;
    const service: ValueMap = {
      name,
      repository: `shop/${name}`,
      dockerfile: `src/${name}/Dockerfile`,
      context: `src/${name}`,
      deploy,
    };
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
      deploy: {
        kubernetesServiceConnection: `aks-${name}`,
        namespace: 'shop',
        azureSubscription: `arm-${name}`,
        resourceGroup: `rg-${name}`,
      },
    };
    if (i > 0) env['promoteFrom'] = names[i - 1]!;
    if (i % 2 === 1) env['azureSubscription'] = `arm-${name}`;
    return env;
  });
}

/** pipeline.yml's parameters for three services (kubernetes, helm, containerApps) in staging and production. */
export function releaseParameters(extra: ValueMap = {}): ValueMap {
  return {
    buildRegistry: 'contosobuild.azurecr.io',
    buildServiceConnection: 'acr-build',
    services: services(['api', 'pay-ments', 'web']),
    environments: environments(['staging', 'production']),
    ...extra,
  };
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
  const found = Array.isArray(stages)
    ? stages.find((s: Value) => typeof s === 'object' && s !== null && !Array.isArray(s) && s['stage'] === stage)
    : undefined;
  if (found === undefined || found === null || typeof found !== 'object' || Array.isArray(found))
    throw new Error(`no stage ${stage}`);
  const jobs = found['jobs'];
  if (!Array.isArray(jobs)) throw new Error(`stage ${stage} has no jobs`);
  return jobs.filter((j): j is ValueMap => typeof j === 'object' && j !== null && !Array.isArray(j));
}

/** The steps of a job, or of the deploy hook of a runOnce deployment job. */
export function stepsOf(job: ValueMap): ValueMap[] {
  let list: Value | undefined = job['steps'];
  const strategy = job['strategy'];
  if (isMap(strategy) && isMap(strategy['runOnce']) && isMap(strategy['runOnce']['deploy']))
    list = strategy['runOnce']['deploy']['steps'];
  if (!Array.isArray(list)) throw new Error(`${String(job['job'] ?? job['deployment'])} has no steps`);
  return list.filter(isMap);
}

/** What identifies a step in a list: its name, else its task, else its kind (checkout, bash...) or display name. */
export function stepId(s: ValueMap): string {
  const named =
    s['name'] ??
    s['task'] ??
    (typeof s['displayName'] === 'string' && !('checkout' in s) && !('download' in s)
      ? s['displayName']
      : Object.keys(s)[0]);
  return String(named);
}

export function step(job: ValueMap, name: string): ValueMap {
  const found = stepsOf(job).find((s) => s['name'] === name || s['task'] === name || s['displayName'] === name);
  if (!found)
    throw new Error(
      `${String(job['job'] ?? job['deployment'])} has no step ${name}: ${stepsOf(job).map(stepId).join(', ')}`,
    );
  return found;
}

export function inputs(s: ValueMap): ValueMap {
  const found = s['inputs'];
  if (!isMap(found)) throw new Error(`step ${stepId(s)} has no inputs`);
  return found;
}

/** A step's inputs as the agent hands them to the task: every value a string. */
export function agentInputs(s: ValueMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs(s))) out[k] = String(v);
  return out;
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
            strategy: {
              runOnce: { deploy: { steps: [...before, { template: `templates/${template}@templates`, parameters }] } },
            },
          },
        ],
      },
    ],
  };
}
