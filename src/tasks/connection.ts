import type { ConnectionInputNames, ConnectionInputs } from '../connection/credentials';
import { CONNECTION_TYPES, PLAIN_CONNECTION_INPUT_NAMES, resolveCredential } from '../connection/credentials';
import type { ImageReference } from '../reference/reference';
import { repositoryName } from '../reference/reference';
import { RegistryClient } from '../registry/client';
import type { RegistryCredential } from '../registry/sign-in';
import { secretsOf } from '../registry/sign-in';
import type { TaskContext } from './context';

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
    ...(connectionType === 'dockerRegistry' && dockerRegistryServiceConnection
      ? { dockerRegistryServiceConnection }
      : {}),
    ...(connectionType === 'azureRM' && azureSubscription ? { azureSubscription } : {}),
    ...(side === undefined ? {} : { names }),
  };
}

export interface RegistrySignIn {
  readonly client: RegistryClient;
  /** The credential the client signs in with, resolved once (DigestPromote's import hands the source's on). */
  readonly credential: RegistryCredential;
}

/** Resolves the credential, masks its secrets, says how it signs in, and makes the client. */
export function registrySignIn(
  context: TaskContext,
  image: ImageReference,
  connection: ConnectionInputs,
  userAgent: string,
  role = 'Registry',
): RegistrySignIn {
  const setSecret = (value: string): void => context.setSecret(value);
  const { credential, notes } = resolveCredential(
    image.registry,
    connection,
    context.endpoints,
    process.env,
    setSecret,
    context.network,
  );
  for (const secret of secretsOf(credential)) context.setSecret(secret);
  for (const note of notes) context.warning(note);
  context.info(`${role}: ${repositoryName(image)} (${credential.source}).`);
  // A task with two registries names each by its role in messages ("the source registry ..."), so a
  // failure is never blamed on the wrong one, even when both are one host.
  const peer = role === 'Registry' ? 'registry' : `${role.toLowerCase()} registry`;
  return {
    client: new RegistryClient(image.registry, {
      credential,
      userAgent,
      onSecret: setSecret,
      network: context.network,
      peer,
    }),
    credential,
  };
}

/** The client of registrySignIn, for a task that needs no more of the sign-in. */
export function registryClientFor(
  context: TaskContext,
  image: ImageReference,
  connection: ConnectionInputs,
  userAgent: string,
  role = 'Registry',
): RegistryClient {
  return registrySignIn(context, image, connection, userAgent, role).client;
}
