import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { AgentCommands } from '../../src/tasks/agent-commands';
import { AgentEnvironment } from '../../src/tasks/agent-environment';

// The tasks read what the agent hands them and write what they tell it without the task library
// (src/tasks/agent-environment.ts, agent-commands.ts). These tests hold both to azure-pipelines-task-lib
// itself: the same environment is handed to the library, in a child process (it empties the
// environment it loads from), and to our reader, and the same calls must give the same values and
// write the same command lines. The packaged suites then run every task through the agent model.

/** An environment as the agent builds it (lab/agent.ts), with the awkward cases in it. */
const AGENT_ENV: Record<string, string> = {
  INPUT_IMAGE: '  reg.example.io/app:1 ',
  INPUT_A_B: 'dotted',
  INPUT_EMPTY: '',
  BUILD_SOURCESDIRECTORY: '/work/1/s',
  SYSTEM_TEAMPROJECT: 'Fabrikam',
  SECRET_MY_SECRET: 'pa;ss]wo%rd',
  SECRET_OLDSTYLE: 'from an agent before 2.104.1',
  SECRET_LISTED_PUBLIC: 'the SECRET_ entry',
  LISTED_PUBLIC: 'the public value',
  VSTS_PUBLIC_VARIABLES: JSON.stringify(['Build.SourcesDirectory', 'System.TeamProject', 'Out.Var', 'Listed.Public']),
  VSTS_SECRET_VARIABLES: JSON.stringify(['My.Secret']),
  ENDPOINT_URL_ab12: 'https://reg.example.io',
  ENDPOINT_AUTH_ab12: JSON.stringify({ parameters: { username: 'u', password: 'p' }, scheme: 'UsernamePassword' }),
  ENDPOINT_AUTH_SCHEME_ab12: 'UsernamePassword',
  ENDPOINT_AUTH_PARAMETER_ab12_PASSWORD: 'p',
  ENDPOINT_DATA_ab12_SUBSCRIPTIONID: 'sub-1',
  SECUREFILE_TICKET_f1: 'ticket',
  VSTS_TASKVARIABLE_T: 'task variable',
  // task-lib writes its debug lines unless this knob is on; ours are off without System.Debug.
  DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF: 'true',
};

const READS: [string, ...string[]][] = [
  ['getInput', 'image'],
  ['getInput', 'a.b'],
  ['getInput', 'empty'],
  ['getInput', 'missing'],
  ['getVariable', 'Build.SourcesDirectory'],
  ['getVariable', 'system.teamProject'],
  ['getVariable', 'My.Secret'],
  ['getVariable', 'OLDSTYLE'],
  ['getVariable', 'Not.Set'],
  ['getVariable', 'Listed.Public'],
  ['getEndpointUrl', 'ab12'],
  ['getEndpointUrl', 'zz99'],
  ['getEndpointAuthorizationScheme', 'ab12'],
  ['getEndpointAuthorization', 'ab12'],
  ['getEndpointAuthorization', 'zz99'],
  ['getEndpointDataParameter', 'ab12', 'subscriptionId'],
];

interface TaskLibRun {
  readonly reads: unknown[];
  readonly envAfter: string[];
  readonly lines: string[];
}

/** Runs task-lib in a child process on AGENT_ENV: the reads, what is left in its environment, and the lines the writes print. */
function taskLibRun(): TaskLibRun {
  const script = `
    const tl = require('azure-pipelines-task-lib/task');
    const reads = ${JSON.stringify(READS)}.map(([fn, ...args]) =>
      (fn === 'getInput' || fn === 'getVariable' ? tl[fn](...args) : tl[fn](...args, true)) ?? null);
    const envAfter = Object.keys(process.env).sort();
    console.log('READS ' + JSON.stringify({ reads, envAfter }));
    tl.setVariable('Out.Var', 'a;b]c%d\\r\\ne', false, true);
    tl.setVariable('My.Secret', 'now an output', false, true);
    tl.setSecret('p%w;d]x');
    tl.warning('careful; 100% ]done\\nnext');
    tl.logIssue(tl.IssueType.Warning, 'in a file', '/work/1/s/deploy.yaml', 3);
    tl.logIssue(tl.IssueType.Error, 'no line', '/work/1/s/deploy.yaml');
    tl.uploadSummary('/tmp/summary dir/Digest.md');
    tl.uploadArtifact('evidence', '/tmp/e.json', 'release-evidence');
    tl.setResult(tl.TaskResult.Failed, 'it failed;\\nbadly');
    tl.setResult(tl.TaskResult.Succeeded, 'fine');
    tl.setResult(tl.TaskResult.Succeeded, '');
  `;
  const run = spawnSync(process.execPath, ['-e', script], {
    env: { PATH: process.env.PATH, ...AGENT_ENV, AGENT_TEMPDIRECTORY: process.env.TMPDIR ?? '/tmp' },
    encoding: 'utf8',
    cwd: __dirname,
  });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n').filter((line) => line !== '');
  const readLine = lines.find((line) => line.startsWith('READS '))!;
  const { reads, envAfter } = JSON.parse(readLine.slice('READS '.length)) as { reads: unknown[]; envAfter: string[] };
  // task-lib writes a few debug lines before it has read the knob that silences them; ours are off.
  const commands = lines.filter((line) => line !== readLine && !line.startsWith('##vso[task.debug]'));
  return { reads, envAfter, lines: commands };
}

function ourRun(): TaskLibRun {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...AGENT_ENV };
  const environment = new AgentEnvironment(env);
  const call = (fn: string, args: string[]): unknown => {
    const [a, b] = args as [string, string];
    switch (fn) {
      case 'getInput':
        return environment.input(a);
      case 'getVariable':
        return environment.variable(a);
      case 'getEndpointUrl':
        return environment.endpointUrl(a);
      case 'getEndpointAuthorizationScheme':
        return environment.endpointScheme(a);
      case 'getEndpointAuthorization':
        return environment.endpointAuthorization(a);
      case 'getEndpointDataParameter':
        return environment.endpointData(a, b);
    }
    throw new Error(fn);
  };
  const reads = READS.map(([fn, ...args]) => call(fn, args) ?? null);
  const lines: string[] = [];
  const commands = new AgentCommands({ write: (line) => lines.push(line), correlationId: '', debug: false });
  commands.setVariable('Out.Var', 'a;b]c%d\r\ne', { secret: environment.isSecretVariable('Out.Var'), isOutput: true });
  commands.setVariable('My.Secret', 'now an output', {
    secret: environment.isSecretVariable('My.Secret'),
    isOutput: true,
  });
  commands.setSecret('p%w;d]x');
  commands.issue('warning', 'careful; 100% ]done\nnext');
  commands.logIssue('warning', 'in a file', '/work/1/s/deploy.yaml', 3);
  commands.logIssue('error', 'no line', '/work/1/s/deploy.yaml');
  commands.uploadSummary('/tmp/summary dir/Digest.md');
  commands.uploadArtifact('release-evidence', 'evidence', '/tmp/e.json');
  commands.complete('Failed', 'it failed;\nbadly');
  commands.complete('Succeeded', 'fine');
  commands.complete('Succeeded', '');
  return { reads, envAfter: Object.keys(env).sort(), lines };
}

describe('the agent protocol without the task library (src/tasks/agent-environment.ts, agent-commands.ts)', () => {
  let theirs: TaskLibRun;
  let ours: TaskLibRun;
  before(() => {
    theirs = taskLibRun();
    ours = ourRun();
  });

  it('reads inputs, variables (public and secret) and service connections as task-lib does', () => {
    assert.deepEqual(ours.reads, theirs.reads);
    // The cases the list is there for.
    assert.equal(ours.reads[0], '  reg.example.io/app:1 ', 'an input untrimmed (typedInputs trims)');
    assert.equal(ours.reads[6], 'pa;ss]wo%rd', 'a listed secret variable');
    assert.equal(ours.reads[7], 'from an agent before 2.104.1', 'an unlisted SECRET_ variable');
  });

  it('takes what may carry a secret out of the environment, as task-lib does', () => {
    // task-lib's own run adds AGENT_TEMPDIRECTORY (its key folder); the rest must be the same.
    assert.deepEqual(
      ours.envAfter,
      theirs.envAfter.filter((name) => name !== 'AGENT_TEMPDIRECTORY'),
    );
    for (const gone of ['INPUT_IMAGE', 'SECRET_MY_SECRET', 'ENDPOINT_AUTH_ab12', 'SECUREFILE_TICKET_f1']) {
      assert.ok(!ours.envAfter.includes(gone), gone);
    }
  });

  it('writes the same logging commands, escapes included', () => {
    assert.deepEqual(ours.lines, theirs.lines);
    assert.ok(ours.lines.some((line) => line.includes('variable=My.Secret;isOutput=true;issecret=true;')));
  });

  it('registers a secret of several lines whole and line by line (the agent masks within a line)', () => {
    const lines: string[] = [];
    const commands = new AgentCommands({ write: (line) => lines.push(line), correlationId: '', debug: false });
    commands.setSecret('-----BEGIN KEY-----\r\nabc\n\n-----END KEY-----');
    commands.setSecret('');
    assert.deepEqual(lines, [
      '##vso[task.setsecret]-----BEGIN KEY-----%0D%0Aabc%0A%0A-----END KEY-----',
      '##vso[task.setsecret]-----BEGIN KEY-----',
      '##vso[task.setsecret]abc',
      '##vso[task.setsecret]-----END KEY-----',
    ]);
  });

  it('writes debug lines only with System.Debug, and a correlation id on issues when the agent gave one', () => {
    const quiet: string[] = [];
    new AgentCommands({ write: (line) => quiet.push(line), correlationId: '', debug: false }).debug('x');
    assert.deepEqual(quiet, []);
    const lines: string[] = [];
    const commands = new AgentCommands({ write: (line) => lines.push(line), correlationId: 'c-1', debug: true });
    commands.debug('x;y');
    commands.issue('error', 'bad');
    assert.deepEqual(lines, [
      '##vso[task.debug]x;y',
      '##vso[task.issue type=error;source=TaskInternal;correlationId=c-1;]bad',
    ]);
    const env: NodeJS.ProcessEnv = { COMMAND_CORRELATION_ID: 'c-2' };
    assert.equal(new AgentEnvironment(env).correlationId, 'c-2');
    assert.deepEqual(env, {}, 'taken out of the environment, as task-lib does');
  });

  it('an authorization record that is not JSON is an error that does not quote it', () => {
    const environment = new AgentEnvironment({ ENDPOINT_AUTH_x1: '{"parameters": {"password": "hunter2"' });
    assert.throws(
      () => environment.endpointAuthorization('x1'),
      (err: Error) => /service connection x1/.test(err.message) && !err.message.includes('hunter2'),
    );
  });
});
