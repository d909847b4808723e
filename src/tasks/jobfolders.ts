import { tmpdir } from 'node:os';
import type { Folder } from '../files/allowed-folders';
import { folder } from '../files/allowed-folders';
import type { TaskContext } from './context';

// The folders of the job, where the tasks may write (DigestPin's files, DigestEvidence's
// outputPath): what the agent sets up for this job and cleans with it, nothing it shares with
// other pipelines or keeps for itself.
//
// - Pipeline.Workspace (= Agent.BuildDirectory, `_work/<n>`): the pipeline's own folder on the
//   agent. It holds every checkout (`s`, and any `checkout: path:`, which the agent keeps inside
//   it), the pipeline artifacts a deployment job downloads (`$(Pipeline.Workspace)/<artifact>`),
//   Build.ArtifactStagingDirectory (`a`) and Build.BinariesDirectory (`b`).
// - System.DefaultWorkingDirectory, Build.SourcesDirectory, Build.ArtifactStagingDirectory: inside
//   it in a YAML job; in a classic release job System.DefaultWorkingDirectory is the release's
//   artifact folder (`_work/r<n>/a`) and Pipeline.Workspace is not set.
// - Agent.TempDirectory (`_work/_temp`): emptied before every job; where the templates render charts.
//
// Not allowed: Agent.WorkFolder (`_work`, which holds the other pipelines' folders), the agent's
// home (its credentials and settings) and Agent.ToolsDirectory (a cache shared by every pipeline).

const JOB_FOLDERS = [
  'Pipeline.Workspace',
  'Agent.BuildDirectory',
  'System.DefaultWorkingDirectory',
  'Build.SourcesDirectory',
  'Build.ArtifactStagingDirectory',
  'Agent.TempDirectory',
] as const;

/** The job's folders the agent set; outside an agent (no such variable), the working directory and the system's temporary folder. */
export function jobFolders(context: TaskContext): Folder[] {
  const folders = JOB_FOLDERS.flatMap((name) => {
    const path = context.variable(name);
    return path === undefined ? [] : [folder(name, path)];
  });
  if (folders.length > 0) return folders;
  return [folder('the working directory', process.cwd()), folder('the temporary folder', tmpdir())];
}

/** How a message tells a user where files may go. */
export const JOB_FOLDERS_FIX =
  'the pipeline workspace ($(Pipeline.Workspace): the repository, downloaded artifacts, $(Build.ArtifactStagingDirectory)) or $(Agent.TempDirectory)';
