import { DigestReleaseError } from '../errors';
import { RegistryCredential } from '../registry/credential';
import { credentialFromDockerConfig, dockerConfigPath } from './dockerconfig';
import { credentialFromDockerRegistryConnection } from './dockerregistry';
import { EndpointReader } from './endpoint';

// Turns a task's connection inputs into credentials for one registry.

export const CONNECTION_TYPES = ['auto', 'dockerRegistry', 'anonymous'] as const;
// Azure Resource Manager connections (connectionType azureRM: workload identity federation,
// service principal, managed identity, then the ACR token exchange) join this list with the ACR issue.
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

export interface ConnectionInputs {
  readonly connectionType: ConnectionType;
  /** The id of a dockerregistry service connection, when connectionType is dockerRegistry. */
  readonly dockerRegistryServiceConnection?: string;
}

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
): ResolvedCredential {
  switch (inputs.connectionType) {
    case 'anonymous':
      return { credential: { kind: 'anonymous', source: 'anonymous access (connectionType: anonymous)' }, notes: [] };
    case 'auto':
      return credentialFromDockerConfig(registry, dockerConfigPath(env));
    case 'dockerRegistry': {
      const id = inputs.dockerRegistryServiceConnection;
      if (!id) {
        throw new DigestReleaseError(
          'INVALID_INPUT',
          'connectionType is dockerRegistry but dockerRegistryServiceConnection is empty. Name a Docker Registry service connection, or set connectionType to auto.',
        );
      }
      const connection = credentialFromDockerRegistryConnection(endpoints, id, 'dockerRegistryServiceConnection');
      // A password goes only to the registry it was made for: a connection for another host is a
      // mistake in the pipeline, and sending it there would hand the secret to that host.
      if (connection.registry !== undefined && connection.registry !== registry.toLowerCase()) {
        throw new DigestReleaseError(
          'CREDENTIALS',
          `The service connection "${id}" given in dockerRegistryServiceConnection was made for ${connection.registry}, but the image is on ${registry}. ` +
            `Use a service connection for ${registry}; its credentials are not sent to another registry.`,
        );
      }
      return { credential: connection.credential, notes: [] };
    }
  }
}
