// Every failure the core reports is a DigestReleaseError with a code a caller can test for and a
// message written for the person reading the pipeline log: what failed, where, and what to do.

export type ErrorCode =
  | 'INVALID_REFERENCE' // an image reference that does not follow the distribution grammar
  | 'INVALID_DIGEST' // a digest that is not sha256 + 64 lowercase hex
  | 'INVALID_INPUT' // a task input with a value the task cannot use
  | 'METADATA_FILE' // a build tool's metadata or digest file that cannot be read or has no digest
  | 'CREDENTIALS' // a service connection or docker config that cannot be turned into credentials
  | 'UNAUTHORIZED' // the registry refused the credentials (401 after signing in)
  | 'DENIED' // the registry knows who we are and refuses the operation (403)
  | 'NAME_UNKNOWN' // the repository does not exist
  | 'MANIFEST_UNKNOWN' // the tag or digest does not exist in the repository
  | 'UNSUPPORTED_MEDIA_TYPE' // a manifest kind we refuse (Docker schema 1) or do not know
  | 'DIGEST_MISMATCH' // bytes that do not hash to the digest the registry claimed or we asked for
  | 'EXPECTED_DIGEST_MISMATCH' // the registry holds other bytes than the build said it pushed
  | 'UNREACHABLE' // the registry could not be reached (DNS, refused, TLS, no connection in time), or dropped the connection midway
  | 'STALLED' // a connection on which nothing moved while something should: the peer stopped taking the request, did not answer, or stopped sending (DigestRelease.StallSeconds)
  | 'NETWORK_SETTINGS' // the agent's proxy or certificate settings (Agent.ProxyUrl, Agent.CAInfo, ...) cannot be used
  | 'PROXY' // the agent's proxy could not be reached, refused the proxy credentials, or would not connect to the host
  | 'REGISTRY_ERROR' // any other answer from the registry we cannot act on
  | 'YAML_PARSE' // a file DigestPin was given that is not valid YAML (file and line in the message)
  | 'FILE_ACCESS' // a file that cannot be found, read or written
  | 'OUTSIDE_JOB_FOLDERS' // a path a task would read or write that lies outside the job's folders (after every link)
  | 'IMAGE_NOT_MATCHED' // an images line that matched no image in the files (a typo guard)
  | 'DISALLOWED_REGISTRY' // an image from a registry outside allowedRegistries
  | 'PIN_CHECK_FAILED' // check mode found images that are not pinned, not allowed or not understood
  | 'LOCK_UNSUPPORTED' // locking asked of a registry that is not an Azure Container Registry
  | 'LOCK_NOT_APPLIED' // the registry's properties did not read back as the lock or unlock asked
  | 'BLOB_UNKNOWN' // a blob a manifest names is not in the repository it should be read from
  | 'BLOB_UPLOAD' // the registry did not accept a blob upload (after retries)
  | 'TAG_CONFLICT' // a target tag already points at other bytes and overwriting was not asked for
  | 'AZURE_DEVOPS_ERROR' // the Azure DevOps REST API refused a request or answered something we cannot read
  | 'EVIDENCE_NOT_FOUND' // no release evidence is attached to the digest (or none for the environment)
  | 'EVIDENCE_INVALID' // evidence that is malformed or whose subject is another digest than it is attached to
  | 'EVIDENCE_REJECTED' // evidence that exists but does not allow the release: scan not passed, manifest not locked
  | 'LOCK_STATE_UNKNOWN' // the lock state of a manifest must be known (verify on ACR) and cannot be read
  | 'ARM_ERROR' // an answer from Azure Resource Manager we cannot act on
  | 'REGISTRY_NOT_FOUND' // no Azure Container Registry resource with the image's login server in the subscription
  | 'IMPORT_FAILED' // ACR's importImage operation failed or did not finish
  | 'IMPORT_NOT_VERIFIED' // the import reported success, but the target does not hold the digest's bytes
  | 'KEEP_LIST_INCOMPLETE' // DigestRetain could not read the evidence of every digest, so it decides nothing
  | 'RECORD_INVALID'; // DigestRetain's record of what it protected is there but cannot be read

export class DigestReleaseError extends Error {
  readonly code: ErrorCode;
  /** HTTP status of the answer that caused the error, when there was one. */
  readonly status: number | undefined;
  /** For UNREACHABLE and STALLED: the host whose connection failed. */
  readonly host: string | undefined;

  constructor(code: ErrorCode, message: string, options: { status?: number; cause?: unknown; host?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DigestReleaseError';
    this.code = code;
    this.status = options.status;
    this.host = options.host;
  }
}

/** The same failure, its message completed (what was written before it, a count of attempts). */
export function withMore(err: unknown, more: string): unknown {
  if (!(err instanceof DigestReleaseError) || more === '') return err;
  return new DigestReleaseError(err.code, `${err.message} ${more}`, {
    cause: err,
    ...(err.status !== undefined ? { status: err.status } : {}),
    ...(err.host !== undefined ? { host: err.host } : {}),
  });
}

export function isDigestReleaseError(err: unknown, code?: ErrorCode): err is DigestReleaseError {
  return err instanceof DigestReleaseError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for logs; never the stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
