// How the connection layer reads an Azure DevOps service connection. The task entry implements it
// with the task library's endpoint functions; tests may hand in plain records.

export interface EndpointReader {
  url(id: string): string | undefined;
  authorizationScheme(id: string): string | undefined;
  authorizationParameter(id: string, key: string): string | undefined;
  dataParameter(id: string, key: string): string | undefined;
}
