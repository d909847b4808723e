import { DigestReleaseError } from '../errors';
import { RegistryCredential } from '../registry/credential';
import { normaliseAuthKey } from './dockerconfig';
import { EndpointReader } from './endpoint';

// A Docker Registry service connection (type dockerregistry) with user name and password: the
// kind Docker@2 uses for Docker Hub and for "Others" registries.

export interface DockerRegistryConnection {
  readonly credential: RegistryCredential;
  /** The registry host the connection was made for, as docker config keys are normalised. */
  readonly registry: string | undefined;
}

export function credentialFromDockerRegistryConnection(endpoints: EndpointReader, id: string, inputName: string): DockerRegistryConnection {
  const scheme = endpoints.authorizationScheme(id);
  if (scheme === undefined) {
    throw new DigestReleaseError(
      'CREDENTIALS',
      `The service connection "${id}" given in ${inputName} was not found or is not authorised for this pipeline. Check its name and grant the pipeline access to it.`,
    );
  }
  if (scheme.toLowerCase() !== 'usernamepassword') {
    throw new DigestReleaseError(
      'CREDENTIALS',
      `The service connection "${id}" given in ${inputName} uses the "${scheme}" scheme; this task reads Docker Registry connections with a user name and password. ` +
        'For Azure Container Registry through Azure Resource Manager, use connectionType azureRM.',
    );
  }
  const username = endpoints.authorizationParameter(id, 'username') ?? '';
  const password = endpoints.authorizationParameter(id, 'password') ?? '';
  if (username === '') {
    throw new DigestReleaseError('CREDENTIALS', `The service connection "${id}" given in ${inputName} has no user name. Edit the service connection and set the Docker ID or user name.`);
  }
  const registryUrl = endpoints.authorizationParameter(id, 'registry') ?? endpoints.url(id);
  return {
    credential: { kind: 'basic', username, password, source: `service connection "${id}"` },
    registry: registryUrl ? normaliseAuthKey(registryUrl) : undefined,
  };
}
