import { CONNECTION_TYPES, ConnectionInputNames, ConnectionInputs, PLAIN_CONNECTION_INPUT_NAMES, resolveCredential } from '../connection/credentials';
import { ImageReference, repositoryName } from '../reference/reference';
import { RegistryClient } from '../registry/client';
import { secretsOf } from '../registry/sign-in';
import { TaskContext } from './agent';

// The sign-in inputs every registry task shares, and the client made from them. A task with two
// registries (DigestPromote) reads them once per side, with the side as a prefix of each name.

function namesFor(side: 'source' | 'target' | undefined): ConnectionInputNames {
  if (side === undefined) return PLAIN_CONNECTION_INPUT_NAMES;
  return {
    connectionType: `${side}ConnectionType`,
    dockerRegistryServiceConnection: `${side}DockerRegistryServiceConnection`,
    azureSubscription: `${side}AzureSubscription`,
  };
}

export function readConnectionInputs(context: TaskContext, side?: 'source' | 'target'): ConnectionInputs {
  const names = namesFor(side);
  const connectionType = context.choiceInput(names.connectionType, CONNECTION_TYPES, 'auto');
  const dockerRegistryServiceConnection = context.input(names.dockerRegistryServiceConnection);
  const azureSubscription = context.input(names.azureSubscription);
  return {
    connectionType,
    ...(connectionType === 'dockerRegistry' && dockerRegistryServiceConnection ? { dockerRegistryServiceConnection } : {}),
    ...(connectionType === 'azureRM' && azureSubscription ? { azureSubscription } : {}),
    ...(side === undefined ? {} : { names }),
  };
}

/** Resolves the credential, masks its secrets, says how it signs in, and makes the client. */
export function registryClientFor(context: TaskContext, image: ImageReference, connection: ConnectionInputs, userAgent: string, role = 'Registry'): RegistryClient {
  const setSecret = (value: string): void => context.setSecret(value);
  const { credential, notes } = resolveCredential(image.registry, connection, context.endpoints, process.env, setSecret, context.network);
  for (const secret of secretsOf(credential)) context.setSecret(secret);
  for (const note of notes) context.warning(note);
  context.info(`${role}: ${repositoryName(image)} (${credential.source}).`);
  // A task with two registries names each by its role in messages ("the source registry ..."), so a
  // failure is never blamed on the wrong one, even when both are one host.
  const peer = role === 'Registry' ? 'registry' : `${role.toLowerCase()} registry`;
  return new RegistryClient(image.registry, { credential, userAgent, onSecret: setSecret, network: context.network, peer });
}
