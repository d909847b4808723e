import type { RunFacts } from './predicate';

// The pipeline run a release came from, read from the agent's variables. Outside a pipeline every
// field is null rather than made up.

export type VariableReader = (name: string) => string | undefined;

export function runFacts(variable: VariableReader): RunFacts {
  const collectionUri = variable('System.CollectionUri') ?? variable('System.TeamFoundationCollectionUri') ?? null;
  const projectId = variable('System.TeamProjectId') ?? null;
  const projectName = variable('System.TeamProject') ?? null;
  const id = wholeNumber(variable('Build.BuildId'));
  return {
    collectionUri,
    organization: collectionUri === null ? null : organizationOf(collectionUri),
    project: { id: projectId, name: projectName },
    definition: { id: wholeNumber(variable('System.DefinitionId')), name: variable('Build.DefinitionName') ?? null },
    id,
    number: variable('Build.BuildNumber') ?? null,
    url: runUrl(collectionUri, projectId ?? projectName, id),
    stage: variable('System.StageName') ?? null,
    stageAttempt: wholeNumber(variable('System.StageAttempt')),
    job: jobName(variable),
    repository: {
      uri: variable('Build.Repository.Uri') ?? null,
      name: variable('Build.Repository.Name') ?? null,
      provider: variable('Build.Repository.Provider') ?? null,
    },
    commit: variable('Build.SourceVersion') ?? null,
    branch: variable('Build.SourceBranch') ?? null,
  };
}

/**
 * The job as the pipeline names it. A deployment job's System.JobName is the strategy's leg,
 * `__default` for runOnce; its YAML name is System.PhaseName (the agent's name for a job).
 */
function jobName(variable: VariableReader): string | null {
  const job = variable('System.JobName');
  if (job === undefined || job === '__default') return variable('System.PhaseName') ?? job ?? null;
  return job;
}

/**
 * The organisation (Azure DevOps Services) or collection (Azure DevOps Server) name:
 * dev.azure.com/<org>/, <org>.visualstudio.com/, else the last segment of the collection's path.
 */
export function organizationOf(collectionUri: string): string | null {
  let url: URL;
  try {
    url = new URL(collectionUri);
  } catch {
    return null;
  }
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  const host = url.hostname.toLowerCase();
  if (host === 'dev.azure.com') return segments[0] ? decodeURIComponent(segments[0]) : null;
  if (host.endsWith('.visualstudio.com')) return host.slice(0, -'.visualstudio.com'.length);
  const last = segments[segments.length - 1];
  return last ? decodeURIComponent(last) : null;
}

/** The run's results page, built on the project id where there is one (no encoding issues). */
export function runUrl(collectionUri: string | null, project: string | null, buildId: number | null): string | null {
  if (collectionUri === null || project === null || buildId === null) return null;
  const base = collectionUri.endsWith('/') ? collectionUri : `${collectionUri}/`;
  return `${base}${encodeURIComponent(project)}/_build/results?buildId=${buildId}`;
}

function wholeNumber(value: string | undefined): number | null {
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : null;
}
