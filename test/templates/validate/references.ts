/**
 * Checks the wiring of an expanded pipeline the way the service would at run time, but
 * before it runs: names are valid and unique, every dependsOn names something that
 * exists, and every output-variable reference resolves.
 *
 * - `$[ dependencies.<job>.outputs['<key>'] ]` in a job's variables or condition: the job
 *   is in the same stage and in the referring job's dependsOn.
 * - `$[ stageDependencies.<stage>.<job>.outputs['<key>'] ]` in a job's variables or
 *   condition: the stage is in the referring stage's dependsOn and has that job.
 * - `<key>` is `<step>.<VAR>` for a job, `<job>.<step>.<VAR>` for a runOnce deployment
 *   job; the step exists, runs one of our tasks (or any task that declares outputs) and
 *   VAR is one of that task's output variables.
 * - `$(<step>.<VAR>)` (step names start lower case here; predefined variables such as
 *   Build.BuildId do not): an earlier step of the same job declares VAR.
 * - A named script step (bash, script, pwsh, powershell) declares as outputs the variables
 *   its text sets with `##vso[task.setvariable variable=<VAR>;isOutput=true]`.
 * - `$(<NAME>)` with an upper-case NAME: a variable of the job, its stage or the pipeline,
 *   or one an earlier script step of the job sets with `##vso[task.setvariable variable=<NAME>]`.
 * Any other use of dependencies / stageDependencies is reported as unsupported.
 */
import type { Value, ValueMap } from '../expander/values';
import { isMap } from '../expander/values';
import type { TaskDefinition } from './tasks';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCRIPT_KEYS = ['bash', 'script', 'pwsh', 'powershell'];

/** The script text of a script step, or undefined for any other step. */
function scriptOf(step: Step): string | undefined {
  for (const k of SCRIPT_KEYS) if (typeof step.node[k] === 'string') return step.node[k];
  return undefined;
}

/** Variables a script sets with ##vso[task.setvariable ...]: `output` those with isOutput=true. */
function setVariables(script: string, output: boolean): string[] {
  const names: string[] = [];
  for (const m of script.matchAll(/##vso\[task\.setvariable ([^\]]*)\]/g)) {
    const props = new Map(
      m[1]!.split(';').map(
        (p) =>
          p
            .trim()
            .split('=')
            .map((x) => x.trim()) as [string, string],
      ),
    );
    const name = props.get('variable');
    if (name !== undefined && (props.get('isOutput')?.toLowerCase() === 'true') === output) names.push(name);
  }
  return names;
}

interface Step {
  name: string | undefined;
  task: string | undefined;
  node: ValueMap;
}

interface Job {
  name: string;
  kind: 'job' | 'deployment';
  dependsOn: string[];
  steps: Step[];
  node: ValueMap;
}

interface Stage {
  name: string;
  dependsOn: string[];
  jobs: Map<string, Job>;
  node: ValueMap;
}

function dependsOnList(v: Value | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  if (v === null || v === '') return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

function strings(v: Value | undefined, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (isMap(v)) for (const x of Object.values(v)) strings(x, out);
  return out;
}

/** Variable names and value strings of a `variables:` block (mapping or list form). */
function variables(v: Value | undefined): { names: string[]; values: string[] } {
  const names: string[] = [];
  const values: string[] = [];
  if (isMap(v)) {
    for (const [k, x] of Object.entries(v)) {
      names.push(k);
      strings(x, values);
    }
  } else if (Array.isArray(v)) {
    for (const item of v) {
      if (!isMap(item)) continue;
      if (typeof item['name'] === 'string') names.push(item['name']);
      strings(item['value'], values);
    }
  }
  return { names, values };
}

export class ReferenceChecker {
  private readonly problems: string[] = [];
  private readonly stages = new Map<string, Stage>();

  constructor(
    private readonly pipeline: ValueMap,
    private readonly tasks: ReadonlyMap<string, TaskDefinition>,
  ) {}

  check(): string[] {
    this.collect();
    for (const stage of this.stages.values()) {
      for (const d of stage.dependsOn)
        if (!this.stages.has(d)) this.problems.push(`stage ${stage.name} depends on unknown stage ${d}`);
      const stageVars = variables(stage.node['variables']);
      for (const s of [...stageVars.values, ...strings(stage.node['condition'])])
        this.noDependencies(s, `stage ${stage.name}`);
      for (const job of stage.jobs.values()) this.checkJob(stage, job, stageVars.names);
    }
    return this.problems;
  }

  private collect(): void {
    const stages = this.pipeline['stages'];
    if (!Array.isArray(stages)) {
      this.problems.push('the pipeline has no stages');
      return;
    }
    let previous: string | undefined;
    for (const [i, raw] of stages.entries()) {
      if (!isMap(raw) || typeof raw['stage'] !== 'string') {
        this.problems.push(`stages[${i}] is not a stage`);
        continue;
      }
      const name = raw['stage'];
      if (!NAME.test(name))
        this.problems.push(`stage name ${name} is invalid: use letters, digits and _ only, not starting with a digit`);
      if (this.stages.has(name)) this.problems.push(`stage name ${name} is used twice`);
      const stage: Stage = {
        name,
        dependsOn: dependsOnList(raw['dependsOn']) ?? (previous === undefined ? [] : [previous]),
        jobs: new Map(),
        node: raw,
      };
      this.stages.set(name, stage);
      previous = name;
      const jobs = raw['jobs'];
      if (!Array.isArray(jobs)) continue;
      for (const [j, rawJob] of jobs.entries()) {
        const job = this.job(rawJob, `stage ${name} jobs[${j}]`);
        if (job === undefined) continue;
        if (stage.jobs.has(job.name)) this.problems.push(`stage ${name}: job name ${job.name} is used twice`);
        stage.jobs.set(job.name, job);
      }
    }
  }

  private job(raw: Value, where: string): Job | undefined {
    if (!isMap(raw)) {
      this.problems.push(`${where} is not a job`);
      return undefined;
    }
    const kind = typeof raw['deployment'] === 'string' ? 'deployment' : 'job';
    const name = raw[kind];
    if (typeof name !== 'string') {
      this.problems.push(`${where} has no job or deployment name`);
      return undefined;
    }
    if (!NAME.test(name))
      this.problems.push(
        `${where}: job name ${name} is invalid: use letters, digits and _ only, not starting with a digit`,
      );
    if (kind === 'deployment' && name.toLowerCase() === 'deploy')
      this.problems.push(`${where}: deploy is a keyword and cannot name a deployment job`);
    let stepList: Value | undefined = raw['steps'];
    if (kind === 'deployment') {
      const strategy = raw['strategy'];
      const runOnce = isMap(strategy) ? strategy['runOnce'] : undefined;
      const deploy = isMap(runOnce) ? runOnce['deploy'] : undefined;
      if (
        !isMap(strategy) ||
        Object.keys(strategy).join() !== 'runOnce' ||
        !isMap(runOnce) ||
        Object.keys(runOnce).join() !== 'deploy' ||
        !isMap(deploy)
      ) {
        this.problems.push(`${where}: only runOnce deployment jobs with a deploy hook are checked`);
      } else {
        stepList = deploy['steps'];
      }
    }
    const steps: Step[] = [];
    const names = new Set<string>();
    for (const s of Array.isArray(stepList) ? stepList : []) {
      if (!isMap(s)) continue;
      const stepName = typeof s['name'] === 'string' ? s['name'] : undefined;
      if (stepName !== undefined) {
        if (!NAME.test(stepName)) this.problems.push(`${where} job ${name}: step name ${stepName} is invalid`);
        if (names.has(stepName)) this.problems.push(`${where} job ${name}: step name ${stepName} is used twice`);
        names.add(stepName);
      }
      steps.push({ name: stepName, task: typeof s['task'] === 'string' ? s['task'] : undefined, node: s });
    }
    return { name, kind, dependsOn: dependsOnList(raw['dependsOn']) ?? [], steps, node: raw };
  }

  private checkJob(stage: Stage, job: Job, stageVariables: string[]): void {
    const where = `stage ${stage.name} job ${job.name}`;
    for (const d of job.dependsOn) if (!stage.jobs.has(d)) this.problems.push(`${where} depends on unknown job ${d}`);
    const jobVars = variables(job.node['variables']);
    for (const s of [...jobVars.values, ...strings(job.node['condition'])]) this.resolveRuntime(s, stage, job, where);
    const known = new Set([...jobVars.names, ...stageVariables, ...variables(this.pipeline['variables']).names]);
    job.steps.forEach((step, index) => {
      const stepWhere = `${where} step ${step.name ?? step.task ?? index}`;
      for (const s of strings(step.node)) {
        this.noDependencies(s, stepWhere);
        this.resolveMacros(s, job, index, known, stepWhere);
      }
    });
  }

  private noDependencies(s: string, where: string): void {
    if (/\b(stageDependencies|dependencies)\b/.test(s))
      this.problems.push(`${where}: output references are only checked in job variables and conditions: ${s}`);
  }

  private resolveRuntime(s: string, stage: Stage, job: Job, where: string): void {
    const re = /\b(stageDependencies|dependencies)\b/g;
    for (const m of s.matchAll(re)) {
      const rest = s.slice(m.index);
      const sd = /^stageDependencies\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\.outputs\['([^']*)'\]/.exec(rest);
      const d = /^dependencies\.([A-Za-z0-9_]+)\.outputs\['([^']*)'\]/.exec(rest);
      if (!s.includes('$[')) this.problems.push(`${where}: ${m[0]} outside a runtime expression $[ ]: ${s}`);
      if (sd !== null) {
        const [text, stageName, jobName, key] = sd;
        const target = this.stages.get(stageName!);
        if (!stage.dependsOn.includes(stageName!))
          this.problems.push(
            `${where}: ${text} reads stage ${stageName}, which stage ${stage.name} does not depend on`,
          );
        if (target === undefined) {
          this.problems.push(`${where}: ${text} names unknown stage ${stageName}`);
          continue;
        }
        const source = target.jobs.get(jobName!);
        if (source === undefined)
          this.problems.push(`${where}: ${text} names unknown job ${jobName} in stage ${stageName}`);
        else this.resolveKey(key!, source, `${where}: ${text}`);
      } else if (d !== null) {
        const [text, jobName, key] = d;
        if (!job.dependsOn.includes(jobName!))
          this.problems.push(`${where}: ${text} reads job ${jobName}, which job ${job.name} does not depend on`);
        const source = stage.jobs.get(jobName!);
        if (source === undefined)
          this.problems.push(`${where}: ${text} names unknown job ${jobName} in stage ${stage.name}`);
        else this.resolveKey(key!, source, `${where}: ${text}`);
      } else {
        this.problems.push(`${where}: unsupported form of ${m[0]} in: ${s}`);
      }
    }
  }

  private resolveKey(key: string, source: Job, where: string): void {
    const parts = key.split('.');
    if (source.kind === 'deployment') {
      // Deployment jobs prefix their outputs with the job name.
      if (parts.length !== 3 || parts[0] !== source.name) {
        this.problems.push(
          `${where}: ${source.name} is a deployment job; its outputs are addressed '${source.name}.<step>.<variable>'`,
        );
        return;
      }
      parts.shift();
    } else if (parts.length !== 2) {
      this.problems.push(`${where}: ${source.name} is a job; its outputs are addressed '<step>.<variable>'`);
      return;
    }
    this.resolveOutput(parts[0]!, parts[1]!, source.steps, `${where} (job ${source.name})`);
  }

  private resolveOutput(stepName: string, variable: string, steps: Step[], where: string): void {
    const step = steps.find((s) => s.name === stepName);
    if (step === undefined) {
      this.problems.push(`${where}: no step named ${stepName}`);
      return;
    }
    const script = scriptOf(step);
    if (script !== undefined) {
      const outputs = setVariables(script, true);
      if (!outputs.includes(variable))
        this.problems.push(
          `${where}: script step ${stepName} sets no output variable ${variable}; it sets ${outputs.join(', ') || 'none'}`,
        );
      return;
    }
    const task = step.task === undefined ? undefined : this.tasks.get(step.task);
    if (task === undefined) {
      this.problems.push(
        `${where}: step ${stepName} is not a task whose outputs are known (${step.task ?? 'a script'})`,
      );
      return;
    }
    if (!task.outputVariables.includes(variable))
      this.problems.push(
        `${where}: ${task.ref} (step ${stepName}) has no output variable ${variable}; it has ${task.outputVariables.join(', ')}`,
      );
  }

  private setEarlier(name: string, job: Job, index: number): boolean {
    return job.steps.slice(0, index).some((step) => {
      const script = scriptOf(step);
      return script !== undefined && setVariables(script, false).includes(name);
    });
  }

  private resolveMacros(s: string, job: Job, index: number, known: ReadonlySet<string>, where: string): void {
    for (const m of s.matchAll(/\$\(([^)]*)\)/g)) {
      const body = m[1]!;
      const dotted = /^([a-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]+)$/.exec(body);
      if (dotted !== null) {
        this.resolveOutput(dotted[1]!, dotted[2]!, job.steps.slice(0, index), `${where}: $(${body})`);
      } else if (
        /^[A-Z][A-Z0-9_]*(_[A-Za-z0-9_]*)?$/.test(body) &&
        !known.has(body) &&
        !this.setEarlier(body, job, index)
      ) {
        this.problems.push(`${where}: $(${body}) is not a variable of the job, its stage or the pipeline`);
      }
    }
  }
}
