import { ArmClient } from '../../acr/arm';
import { entraTokenSource, readAzureRmConnection } from '../../connection/azurerm';
import type { ConnectionInputs } from '../../connection/credentials';
import { PLAIN_CONNECTION_INPUT_NAMES } from '../../connection/credentials';
import { DigestReleaseError } from '../../errors';
import type { ArmScope, SourceAccess } from '../../promote/import';
import type { RegistryCredential } from '../../registry/sign-in';
import type { TaskContext } from '../context';

// What mode: import needs from the service connections: a Resource Manager client per Azure
// Resource Manager connection (its cloud's Resource Manager URL, its subscription), and how the
// import may sign in to a source it cannot name by resource id.

export function armScopeFor(context: TaskContext, connection: ConnectionInputs): ArmScope {
  const names = connection.names ?? PLAIN_CONNECTION_INPUT_NAMES;
  const id = connection.azureSubscription;
  if (connection.connectionType !== 'azureRM' || id === undefined) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `${names.connectionType} is ${connection.connectionType}${id === undefined ? ` and ${names.azureSubscription} is empty` : ''}: mode: import needs an Azure Resource Manager service connection there.`,
    );
  }
  const arm = readAzureRmConnection(context.endpoints, id, names.azureSubscription, process.env);
  const subscriptionId = context.endpoints.dataParameter(id, 'subscriptionId')?.trim();
  if (!subscriptionId) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The Azure Resource Manager service connection "${id}" given in ${names.azureSubscription} has no subscription (a management group or other scope). ` +
        "mode: import finds the target registry among the container registries of the connection's subscription: use a connection scoped to the subscription that holds the target ACR.",
    );
  }
  const tokens = entraTokenSource(arm, arm.resourceManagerScope, context.network);
  for (const secret of tokens.secrets()) context.setSecret(secret);
  return {
    arm: new ArmClient({
      resourceManagerUrl: arm.resourceManagerUrl,
      tokens,
      onSecret: (value) => context.setSecret(value),
      network: context.network,
    }),
    subscriptionId,
    inputName: names.azureSubscription,
  };
}

/** The source sign-in (the credential the source client was made with) as the import can use it: nothing, or a user name and password. */
export function sourceAccessFor(
  context: TaskContext,
  credential: RegistryCredential,
  connection: ConnectionInputs,
): SourceAccess {
  const names = connection.names ?? PLAIN_CONNECTION_INPUT_NAMES;
  switch (credential.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'basic':
      context.setSecret(credential.password);
      return { kind: 'basic', username: credential.username, password: credential.password };
    case 'refreshToken':
      return {
        kind: 'unusable',
        why: `the source sign-in (${names.connectionType}: ${connection.connectionType}, ${credential.source}) is an identity token, which the import cannot use.`,
      };
    case 'refreshTokenSource':
      return {
        kind: 'unusable',
        why:
          connection.connectionType === 'azureRM'
            ? `the source sign-in (${names.azureSubscription}) is an Azure Resource Manager connection whose subscription does not list the source, and an Entra ID token cannot be handed to the import.`
            : `the source sign-in (${names.dockerRegistryServiceConnection}, ${credential.source}) is an Entra ID identity, whose token cannot be handed to the import.`,
      };
  }
}
