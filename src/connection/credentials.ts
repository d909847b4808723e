import { createHash } from 'node:crypto';
import { AcrTokenExchange } from '../acr/exchange';
import { DigestReleaseError } from '../errors';
import type { Network } from '../http/network';
import { DIRECT_NETWORK } from '../http/network';
import type { RegistryCredential } from '../registry/sign-in';
import { Transport } from '../http/transport';
import type { AzureRmConnection } from './azurerm';
import { entraTokenSource, readAzureRmConnection } from './azurerm';
import { credentialFromDockerConfig, dockerConfigPath } from './dockerconfig';
import { readDockerRegistryConnection } from './dockerregistry';
import type { EndpointReader } from './endpoint';

// Turns a task's connection inputs into credentials for one registry.

export const CONNECTION_TYPES = ['auto', 'dockerRegistry', 'anonymous', 'azureRM'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

export interface ConnectionInputs {
  readonly connectionType: ConnectionType;
  /** The id of a dockerregistry service connection, when connectionType is dockerRegistry. */
  readonly dockerRegistryServiceConnection?: string;
  /** The id of an Azure Resource Manager service connection, when connectionType is azureRM. */
  readonly azureSubscription?: string;
  /** The task's names for these inputs (sourceConnectionType, ...), for messages; the plain names when absent. */
  readonly names?: ConnectionInputNames;
}

export interface ConnectionInputNames {
  readonly connectionType: string;
  readonly dockerRegistryServiceConnection: string;
  readonly azureSubscription: string;
}

export const PLAIN_CONNECTION_INPUT_NAMES: ConnectionInputNames = {
  connectionType: 'connectionType',
  dockerRegistryServiceConnection: 'dockerRegistryServiceConnection',
  azureSubscription: 'azureSubscription',
};

export interface ResolvedCredential {
  readonly credential: RegistryCredential;
  /** Warnings a user should see, such as a credential helper that was not run. */
  readonly notes: readonly string[];
}

export function resolveCredential(
  registry: string,
  inputs: ConnectionInputs,
  endpoints: EndpointReader,
  env: NodeJS.ProcessEnv = process.env,
  setSecret: (value: string) => void = () => undefined,
  /** The task's network (TaskContext.network): Entra ID and the ACR token exchange go over it. */
  network: Network = DIRECT_NETWORK,
): ResolvedCredential {
  const names = inputs.names ?? PLAIN_CONNECTION_INPUT_NAMES;
  switch (inputs.connectionType) {
    case 'azureRM': {
      const id = inputs.azureSubscription;
      if (!id) {
        throw new DigestReleaseError(
          'INVALID_INPUT',
          `${names.connectionType} is azureRM but ${names.azureSubscription} is empty. Name an Azure Resource Manager service connection whose identity has a role on the registry.`,
        );
      }
      const connection = readAzureRmConnection(endpoints, id, names.azureSubscription, env);
      return {
        credential: {
          kind: 'refreshTokenSource',
          tokens: acrExchangeFor(connection, setSecret, network),
          source: `service connection "${id}"`,
        },
        notes: [],
      };
    }
    case 'anonymous':
      return { credential: { kind: 'anonymous', source: 'anonymous access (connectionType: anonymous)' }, notes: [] };
    case 'auto':
      return credentialFromDockerConfig(registry, dockerConfigPath(env));
    case 'dockerRegistry': {
      const id = inputs.dockerRegistryServiceConnection;
      if (!id) {
        throw new DigestReleaseError(
          'INVALID_INPUT',
          `${names.connectionType} is dockerRegistry but ${names.dockerRegistryServiceConnection} is empty. Name a Docker Registry service connection, or set ${names.connectionType} to auto.`,
        );
      }
      const connection = readDockerRegistryConnection(endpoints, id, names.dockerRegistryServiceConnection, env);
      // Credentials go only to the registry the connection was made for (its registry, or for one
      // of type ACR its loginServer): a connection for another host is a mistake in the pipeline,
      // and signing in there would hand that host the password or a token of the identity.
      if (connection.registry !== undefined && connection.registry !== registry.toLowerCase()) {
        throw new DigestReleaseError(
          'CREDENTIALS',
          `The service connection "${id}" given in ${names.dockerRegistryServiceConnection} was made for ${connection.registry}, but the image is on ${registry}. ` +
            `Use a service connection for ${registry}; its credentials are not sent to another registry.`,
        );
      }
      if (connection.kind === 'basic') return { credential: connection.credential, notes: [] };
      return {
        credential: {
          kind: 'refreshTokenSource',
          tokens: acrExchangeFor(connection.connection, setSecret, network),
          source: connection.source,
        },
        notes: [],
      };
    }
  }
}

/**
 * One exchange per service connection per process: tasks that run several operations (capture,
 * then lock) resolve their credential more than once, and each client shares this source and so
 * its refresh tokens. The key is the connection's whole content, so an edited connection is new.
 */
const exchanges = new WeakMap<Network, Map<string, AcrTokenExchange>>();

function acrExchangeFor(
  connection: AzureRmConnection,
  setSecret: (value: string) => void,
  network: Network,
): AcrTokenExchange {
  const key = createHash('sha256').update(JSON.stringify(connection)).digest('hex');
  let byConnection = exchanges.get(network);
  if (!byConnection) {
    byConnection = new Map();
    exchanges.set(network, byConnection);
  }
  let exchange = byConnection.get(key);
  if (!exchange) {
    exchange = new AcrTokenExchange(
      entraTokenSource(connection, connection.registryScope, network),
      new Transport({ network }),
      setSecret,
    );
    byConnection.set(key, exchange);
  }
  return exchange;
}
