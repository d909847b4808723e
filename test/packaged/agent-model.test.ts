import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTaskJson, taskNames } from '../tasks/sources';
import {
  AgentJob,
  agentNetworkVariables,
  agentNode24,
  connectionId,
  expandMacros,
  nodeBinary,
  rootFilePath,
} from '../../lab/agent';
import { stepResult } from '../../lab/taskrun';

// The agent model every task test runs through: each rule as the agent applies it, checked on what
// the model would hand the packaged task (the process's environment), so a test that passes through
// it has passed the way a pipeline step runs.

describe('the agent model (lab/agent.ts)', function () {
  this.timeout(30_000);
  let job: AgentJob;
  beforeEach(() => {
    job = new AgentJob({
      variables: { tag: '1.4.2', DOCKER_CONFIG: '/home/azp/.docker' },
      secrets: { 'registry.password': 'Pa55-secret' },
      connections: {
        'reg-conn': {
          url: 'https://registry.example',
          scheme: 'UsernamePassword',
          parameters: { username: 'bot', password: 'Pa55-conn' },
          data: { registrytype: 'Others' },
        },
        'other-conn': { scheme: 'UsernamePassword', parameters: { username: 'x', password: 'y' } },
      },
    });
  });
  afterEach(() => job.dispose());

  it('starts from task.json defaults, trimmed, and lays the step inputs over them, trimmed', () => {
    const { env } = job.prepare('DigestCapture', { inputs: { image: '  registry.example/app:1  ' } });
    assert.equal(env.INPUT_IMAGE, 'registry.example/app:1');
    assert.equal(env.INPUT_CONNECTIONTYPE, 'auto', 'the task.json default');
    assert.equal(env.INPUT_EXPECTEDDIGEST, '', 'an input without a default still reaches the task, empty');
  });

  it('roots a filePath input at the repository: empty becomes the sources directory, relative is joined, absolute is normalised', () => {
    const at = (metadataFile: string) =>
      job.prepare('DigestCapture', { inputs: { image: 'a/b:1', metadataFile } }).env.INPUT_METADATAFILE;
    assert.equal(
      job.prepare('DigestCapture', { inputs: { image: 'a/b:1' } }).env.INPUT_METADATAFILE,
      job.sourcesDirectory,
    );
    assert.equal(at(''), job.sourcesDirectory);
    assert.equal(at('out/metadata.json'), join(job.sourcesDirectory, 'out', 'metadata.json'));
    assert.equal(at('/tmp/x/../metadata.json'), '/tmp/metadata.json');
    assert.equal(at('../outside.json'), join(job.buildDirectory, 'outside.json'));
    assert.equal(
      rootFilePath('dir/', '/w/1/s'),
      '/w/1/s/dir/',
      'a trailing separator is kept, as Path.GetFullPath keeps it',
    );
  });

  it('expands $(macros) once from the job variables, secret ones too, leaving unknown ones as written', () => {
    const { env } = job.prepare('DigestCapture', {
      inputs: { image: 'registry.example/app:$(tag)', expectedDigest: '$(registry.password)$(nope)' },
    });
    assert.equal(env.INPUT_IMAGE, 'registry.example/app:1.4.2');
    assert.equal(env.INPUT_EXPECTEDDIGEST, 'Pa55-secret$(nope)');
    assert.equal(
      expandMacros('$(a$(b))', (n) => ({ b: 'B' })[n]),
      '$(aB)',
      'no nesting: the inner name is expanded alone',
    );
    assert.equal(
      expandMacros('$(a)', (n) => ({ a: '$(b)', b: 'x' })[n]),
      '$(b)',
      'no re-scan of what was substituted',
    );
    assert.equal(
      expandMacros('$(TAG)', (n) => (n.toLowerCase() === 'tag' ? 't' : undefined)),
      't',
    );
  });

  it('hands variables as environment (dots to _, upper case), secret ones only as SECRET_*, and the lists task-lib reads', () => {
    const { env } = job.prepare('DigestCapture', { inputs: { image: 'a/b:1' } });
    assert.equal(env.BUILD_SOURCESDIRECTORY, job.sourcesDirectory);
    assert.equal(env.SYSTEM_DEFAULTWORKINGDIRECTORY, job.sourcesDirectory);
    assert.equal(env.AGENT_TEMPDIRECTORY, job.tempDirectory);
    assert.equal(env.DOCKER_CONFIG, '/home/azp/.docker');
    assert.equal(env.REGISTRY_PASSWORD, undefined);
    assert.equal(env.SECRET_REGISTRY_PASSWORD, 'Pa55-secret');
    assert.equal(env.SYSTEM_ACCESSTOKEN, undefined, 'System.AccessToken is a secret variable');
    assert.ok(JSON.parse(env.VSTS_SECRET_VARIABLES!).includes('registry.password'));
    assert.ok(JSON.parse(env.VSTS_PUBLIC_VARIABLES!).includes('Build.BuildId'));
    assert.equal(env.TF_BUILD, 'True');
    assert.equal(env.NODE_EXTRA_CA_CERTS, undefined, 'nothing of the test process leaks in');
  });

  it('passes only the endpoints a connectedService input names, under their id, plus SystemVssConnection', () => {
    const id = connectionId('reg-conn');
    const { env } = job.prepare('DigestCapture', {
      inputs: { image: 'a/b:1', connectionType: 'dockerRegistry', dockerRegistryServiceConnection: 'reg-conn' },
    });
    assert.equal(env.INPUT_DOCKERREGISTRYSERVICECONNECTION, id, 'the server hands the task the id, not the name');
    assert.equal(env[`ENDPOINT_URL_${id}`], 'https://registry.example');
    assert.equal(env[`ENDPOINT_AUTH_SCHEME_${id}`], 'UsernamePassword');
    assert.equal(env[`ENDPOINT_AUTH_PARAMETER_${id}_PASSWORD`], 'Pa55-conn');
    assert.equal(env[`ENDPOINT_DATA_${id}_REGISTRYTYPE`], 'Others');
    assert.deepEqual(JSON.parse(env[`ENDPOINT_AUTH_${id}`]!), {
      parameters: { username: 'bot', password: 'Pa55-conn' },
      scheme: 'UsernamePassword',
    });
    assert.ok(
      !Object.keys(env).some((k) => k.includes(connectionId('other-conn'))),
      'a connection no input names is not passed',
    );
    assert.equal(env.ENDPOINT_AUTH_SCHEME_SYSTEMVSSCONNECTION, 'OAuth');
    assert.equal(env.ENDPOINT_DATA_SYSTEMVSSCONNECTION, undefined);

    const none = job.prepare('DigestCapture', {
      inputs: { image: 'a/b:1', dockerRegistryServiceConnection: 'not-a-connection' },
    }).env;
    assert.ok(
      !Object.keys(none).some((k) => k.startsWith('ENDPOINT_URL_') && k !== 'ENDPOINT_URL_SYSTEMVSSCONNECTION'),
      'a value that is no GUID passes nothing',
    );
  });

  it('masks secret variables and connection passwords in the log, and what the task registers from then on', () => {
    const { secrets } = job.prepare('DigestCapture', {
      inputs: { image: 'a/b:1', dockerRegistryServiceConnection: 'reg-conn' },
    });
    for (const value of ['Pa55-secret', 'Pa55-conn', 'bot']) assert.ok(secrets.includes(value), value);
  });

  it('refuses what no pipeline could hand a task: an input the task does not declare, a variable the agent sets itself', () => {
    assert.throws(() => job.prepare('DigestCapture', { inputs: { imgae: 'a/b:1' } }), /does not declare/);
    assert.throws(
      () => new AgentJob({ variables: { 'Build.SourcesDirectory': '/elsewhere' } }),
      /the agent itself sets/,
    );
  });

  it("sets a later step's $(step.NAME) from an output variable, and not the plain name", () => {
    job.recordOutput('capture', 'IMAGE_REF', 'registry.example/app@sha256:abc');
    const { env } = job.prepare('DigestCapture', {
      inputs: { image: '$(capture.IMAGE_REF)', expectedDigest: '$(IMAGE_REF)' },
    });
    assert.equal(env.INPUT_IMAGE, 'registry.example/app@sha256:abc');
    assert.equal(env.INPUT_EXPECTEDDIGEST, '$(IMAGE_REF)');
  });

  it("publishes the agent's configured proxy and CA as job variables, the proxy password only as a secret, and nothing as proxy environment", () => {
    const caFile = join(job.tempDirectory, 'corp-ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const proxied = new AgentJob({
      agentProxy: {
        url: ' http://proxy.corp.example:8080 ',
        username: 'build-bot',
        password: 'Pr0xy-pw;secret',
        bypass: ['github\\.com', '  ', ' \\.internal\\.example$ '],
      },
      agentCertificates: { caFile, skipCertValidation: true },
    });
    try {
      const { env, secrets } = proxied.prepare('DigestCapture', { inputs: { image: 'a/b:1' } });
      assert.equal(env.AGENT_PROXYURL, 'http://proxy.corp.example:8080', "the .proxy file's first line, trimmed");
      assert.equal(env.AGENT_PROXYUSERNAME, 'build-bot');
      assert.equal(env.AGENT_PROXYPASSWORD, undefined, 'a secret variable is not in the environment');
      assert.equal(env.SECRET_AGENT_PROXYPASSWORD, 'Pr0xy-pw;secret');
      assert.deepEqual(
        JSON.parse(env.AGENT_PROXYBYPASSLIST!),
        ['github\\.com', '\\.internal\\.example$'],
        '.proxybypass lines, blank ones skipped, trimmed',
      );
      assert.equal(env.AGENT_USEBASICAUTHFORPROXY, 'False');
      assert.equal(env.AGENT_CAINFO, caFile);
      assert.equal(env.AGENT_SKIPCERTVALIDATION, 'True');
      assert.ok(
        JSON.parse(env.VSTS_SECRET_VARIABLES!).includes('agent.proxypassword'),
        "under the agent's own (lower-case) name",
      );
      assert.ok(JSON.parse(env.VSTS_PUBLIC_VARIABLES!).includes('agent.proxyurl'));
      assert.ok(secrets.includes('Pr0xy-pw;secret'), 'masked from the start');
      for (const name of [
        'VSTS_HTTP_PROXY',
        'HTTPS_PROXY',
        'https_proxy',
        'HTTP_PROXY',
        'http_proxy',
        'NODE_EXTRA_CA_CERTS',
      ])
        assert.equal(env[name], undefined, `${name} is not set for the task`);
    } finally {
      proxied.dispose();
    }
    assert.throws(
      () => new AgentJob({ variables: { 'Agent.ProxyUrl': 'http://elsewhere:1' } }),
      /the agent itself sets/,
    );
    assert.throws(
      () => new AgentJob({ agentCertificates: { caFile: join(job.tempDirectory, 'missing.pem') } }),
      /does not exist/,
    );
    const plain = job.prepare('DigestCapture', { inputs: { image: 'a/b:1' } }).env;
    assert.ok(
      !Object.keys(plain).some((name) => /^AGENT_(PROXY|CAINFO|SKIPCERT|USEBASICAUTH)/.test(name)),
      'an agent without a proxy publishes none of them',
    );
  });

  it("takes the proxy from the agent's environment when it has no .proxy file, and removes VSTS_HTTP_PROXY* from what tasks inherit, not http_proxy or no_proxy", () => {
    const hostEnv = {
      VSTS_HTTP_PROXY: 'http://proxy.corp.example:3128',
      VSTS_HTTP_PROXY_USERNAME: 'env-user',
      VSTS_HTTP_PROXY_PASSWORD: 'env-pw',
      VSTS_HTTP_PROXY_BASICAUTH: 'true',
      http_proxy: 'http://other.example:1',
      no_proxy: 'localhost, .corp.example;10.0.*,already\\.escaped',
    };
    const { variables, env } = agentNetworkVariables(undefined, undefined, hostEnv);
    const value = (name: string) => variables.find((v) => v.name === name);
    assert.equal(value('agent.proxyurl')?.value, 'http://proxy.corp.example:3128', 'VSTS_HTTP_PROXY before http_proxy');
    assert.equal(value('agent.proxyusername')?.value, 'env-user');
    assert.deepEqual(value('agent.proxypassword'), { name: 'agent.proxypassword', value: 'env-pw', secret: true });
    assert.equal(value('agent.usebasicauthforproxy')?.value, 'True');
    assert.deepEqual(
      JSON.parse(value('agent.proxybypasslist')!.value),
      ['localhost', '\\.corp\\.example', '10\\.0.*', 'already\\.escaped'],
      'no_proxy split on , and ;, dots escaped unless escaped or before *',
    );
    assert.deepEqual(
      Object.keys(env).sort(),
      ['VSTS_HTTP_PROXY_BASICAUTH', 'http_proxy', 'no_proxy'],
      'VSTS_HTTP_PROXY, its user name and password are cleared; the rest stays',
    );
    assert.equal(
      agentNetworkVariables(undefined, undefined, { http_proxy: 'http://fallback.example:8080' }).variables[0]?.value,
      'http://fallback.example:8080',
      'http_proxy when VSTS_HTTP_PROXY is not set',
    );
    assert.deepEqual(
      agentNetworkVariables({ url: 'not a uri' }, undefined, {}).variables,
      [],
      'an address that is not an absolute URI is dropped',
    );
    const fileWins = agentNetworkVariables(
      { url: 'http://file.example:1', username: 'file-user', password: 'file-pw' },
      undefined,
      hostEnv,
    );
    assert.equal(
      fileWins.variables.find((v) => v.name === 'agent.proxyusername')?.value,
      'file-user',
      'the .proxycredentials before the environment',
    );
    assert.deepEqual(
      Object.keys(fileWins.env).sort(),
      ['VSTS_HTTP_PROXY_BASICAUTH', 'http_proxy', 'no_proxy'],
      'cleared because the agent has a proxy, user and password, wherever they came from',
    );
    const userOnly = agentNetworkVariables({ url: 'http://file.example:1' }, undefined, {
      VSTS_HTTP_PROXY_PASSWORD: 'pw-only',
    });
    assert.deepEqual(
      userOnly.variables.map((v) => v.name),
      ['agent.proxyurl', 'agent.proxypassword', 'agent.usebasicauthforproxy'],
      'a user name is published only when there is one',
    );
  });

  it('decides the step result as the agent does: the worst reported result, Failed on a non-zero exit', () => {
    assert.equal(stepResult(['Failed', 'Succeeded'], 0), 'Failed');
    assert.equal(stepResult(['SucceededWithIssues'], 0), 'SucceededWithIssues');
    assert.equal(stepResult(['Succeeded'], 1), 'Failed');
    assert.equal(stepResult([], 0), 'Succeeded');
    assert.equal(stepResult(['Bogus'], 0), 'Failed');
  });

  it(`runs the Node24 entry of every task on the agent's Node ${agentNode24() ? 24 : 20} (the UseNode24withHandlerData knob ${agentNode24() ? 'on' : 'off'})`, () => {
    for (const task of taskNames()) {
      const execution = readTaskJson<{ execution: object }>(task).execution;
      assert.deepEqual(Object.keys(execution).sort(), ['Node20_1', 'Node24'], `${task} declares both handlers`);
      const prepared = job.prepare(task);
      assert.equal(prepared.handler, 'Node24');
      assert.equal(prepared.binary, nodeBinary(agentNode24() ? 24 : 20));
    }
    const version = execFileSync(nodeBinary(agentNode24() ? 24 : 20), ['--version'], { encoding: 'utf8' }).trim();
    assert.equal(version, agentNode24() ? 'v24.18.1' : 'v20.20.2');
  });
});
