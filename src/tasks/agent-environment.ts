// What the agent hands a task in its environment, read the way azure-pipelines-task-lib 5.281.0
// reads it (internal.js _loadData and _getVariable, task.js getInput and getEndpoint*), without
// loading the task library: loading it is about a third of a task's start-up (bench startup).
//
// The agent (Agent.Worker, ProcessHandler/NodeHandler) sets, per task:
// - INPUT_<NAME>: every input, task.json defaults applied, macros expanded, file paths rooted;
// - public variables by name (dots and spaces as _, upper case), listed in VSTS_PUBLIC_VARIABLES;
// - secret variables as SECRET_<NAME>, listed in VSTS_SECRET_VARIABLES;
// - service connections as ENDPOINT_URL_<id>, ENDPOINT_AUTH_<id> (JSON: scheme and parameters),
//   ENDPOINT_AUTH_SCHEME_<id>, ENDPOINT_AUTH_PARAMETER_<id>_<KEY>, ENDPOINT_DATA_<id>_<KEY>;
// - COMMAND_CORRELATION_ID for tasks the server owns (an extension's never are).
// As task-lib does, everything that may carry a secret (INPUT_*, ENDPOINT_AUTH_*, SECRET_*,
// SECUREFILE_TICKET_*, VSTS_TASKVARIABLE_*) is taken out of process.env when read, so nothing this
// process starts inherits it; the values live in this object only. (task-lib also encrypts them in
// memory with a key it writes to the temporary folder; a process dump that holds the key file's
// folder defeats that, and the credentials the task builds from them are in memory as they are.)

/** An agent variable's environment name: dots and spaces as underscores, upper case (task-lib _getVariableKey). */
export function variableKey(name: string): string {
  return name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
}

const TAKEN = ['INPUT_', 'ENDPOINT_AUTH_', 'SECUREFILE_TICKET_', 'SECRET_', 'VSTS_TASKVARIABLE_'];

export class AgentEnvironment {
  /** The values taken out of the environment, by their environment name in lower case (as task-lib's vault). */
  private readonly taken = new Map<string, string>();
  /** Variable keys the agent listed as secret. */
  private readonly secretVariables = new Set<string>();
  /** The correlation id the agent expects on task.issue commands ('' when it gave none). */
  readonly correlationId: string;

  /** Reads, and takes out of, `env` (process.env for a task run). */
  constructor(private readonly env: NodeJS.ProcessEnv) {
    for (const name of Object.keys(env)) {
      if (!TAKEN.some((prefix) => name.startsWith(prefix))) continue;
      const value = env[name];
      // Before 2.104.1 the agent listed no secret variables; a SECRET_ entry says so itself.
      if (name.startsWith('SECRET_') && name.length > 'SECRET_'.length)
        this.secretVariables.add(variableKey(name.slice(7)));
      if (!value) continue; // an empty one stays, as task-lib leaves it
      this.taken.set(name.toLowerCase(), value);
      delete env[name];
    }
    this.correlationId = env.COMMAND_CORRELATION_ID ?? '';
    delete env.COMMAND_CORRELATION_ID;
    // The lists say which variables are public (read from the environment) and which secret, the
    // secret list last, as task-lib applies them.
    for (const name of listedVariables(env, 'VSTS_PUBLIC_VARIABLES')) this.secretVariables.delete(variableKey(name));
    for (const name of listedVariables(env, 'VSTS_SECRET_VARIABLES')) this.secretVariables.add(variableKey(name));
  }

  /** An input as the agent set it (untrimmed); undefined when unset or empty. */
  input(name: string): string | undefined {
    return this.taken.get(`input_${variableKey(name).toLowerCase()}`);
  }

  /** A variable: a secret one from what was taken, a public one from the environment. */
  variable(name: string): string | undefined {
    const key = variableKey(name);
    return this.secretVariables.has(key) ? this.taken.get(`secret_${key.toLowerCase()}`) : this.env[key];
  }

  /** Whether the agent listed the variable as secret (an output of the same name stays secret). */
  isSecretVariable(name: string): boolean {
    return this.secretVariables.has(variableKey(name));
  }

  endpointUrl(id: string): string | undefined {
    return this.env[`ENDPOINT_URL_${id}`] || undefined;
  }

  endpointScheme(id: string): string | undefined {
    return this.taken.get(`endpoint_auth_scheme_${id}`.toLowerCase());
  }

  /**
   * A service connection's authorization record (scheme and parameters), undefined when there is
   * none. A record that is not JSON is an error that does not quote it (it holds the secrets).
   */
  endpointAuthorization(id: string): unknown {
    const text = this.taken.get(`endpoint_auth_${id}`.toLowerCase());
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`The agent handed the service connection ${id} an authorization that is not JSON.`);
    }
  }

  endpointData(id: string, key: string): string | undefined {
    return this.env[`ENDPOINT_DATA_${id}_${key.toUpperCase()}`] || undefined;
  }
}

function listedVariables(env: NodeJS.ProcessEnv, name: string): string[] {
  const text = env[name];
  delete env[name];
  if (!text) return [];
  let names: unknown;
  try {
    names = JSON.parse(text);
  } catch {
    throw new Error(`The agent's ${name} is not JSON: ${text.slice(0, 200)}`);
  }
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
}
