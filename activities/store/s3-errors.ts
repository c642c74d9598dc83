/**
 * What an S3 failure means for the user. Configuration problems (no such bucket, unknown host, no or
 * wrong credentials, no permission) become a StoreConfigError naming the setting and the fix: not
 * retried, the campaign pauses. Anything else (throttling, a restarting server) stays retryable.
 */
import { StoreConfigError } from '../../config/errors';
import { describeLocation, type StoreLocation } from '../../config/store-location';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const PERMISSION: Record<string, string> = {
  read: 's3:GetObject',
  write: 's3:PutObject',
  list: 's3:ListBucket',
  delete: 's3:DeleteObject',
};

/** The system error under the SDK's wrappers (its code, or failing that its message, names it). */
function networkCode(e: SdkError): string | undefined {
  for (let c: unknown = e; c && typeof c === 'object'; c = (c as SdkError).cause) {
    const code = (c as SdkError).code;
    if (code && /^E[A-Z_]+$/.test(code)) return code;
    const named = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT)\b/.exec((c as SdkError).message ?? '');
    if (named) return named[1];
  }
  return undefined;
}

export function explainS3Error(e: unknown, loc: StoreLocation, action: 'read' | 'write' | 'list' | 'delete', key?: string): Error {
  if (loc.kind !== 's3') return e as Error;
  const err = (e ?? {}) as SdkError;
  const name = err.name ?? '';
  const status = err.$metadata?.httpStatusCode;
  const where = describeLocation(loc);
  const endpoint = loc.endpoint ? `artifacts.endpoint (${loc.endpoint})` : 'the AWS endpoint of artifacts.region';
  const what = key ? `s3://${loc.bucket}/${loc.prefix ? `${loc.prefix}/` : ''}${key}` : where;
  if (name === 'NoSuchBucket')
    return new StoreConfigError(`artifacts.root: bucket "${loc.bucket}" does not exist at ${endpoint}: create it, or correct the bucket in artifacts.root`);
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(err.message ?? ''))
    return new StoreConfigError(
      `${where}: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with a shared credentials file, or run with an instance or pod role) for every worker; credentials never go in the campaign file`,
    );
  if (name === 'InvalidAccessKeyId')
    return new StoreConfigError(`${where}: the server does not know the access key in use: check AWS_ACCESS_KEY_ID or the profile AWS_PROFILE names`);
  if (name === 'SignatureDoesNotMatch')
    return new StoreConfigError(`${where}: the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY or the profile AWS_PROFILE names`);
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403)
    return new StoreConfigError(
      `${what}: permission denied (${action}): the credentials in use need ${PERMISSION[action]} on s3://${loc.bucket}/${loc.prefix ? `${loc.prefix}/` : ''}* (alignloop needs s3:GetObject, s3:PutObject, s3:ListBucket, s3:DeleteObject)`,
    );
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301)
    return new StoreConfigError(`${where}: the bucket lives in another region: set artifacts.region to the bucket's region`);
  const code = networkCode(err);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new StoreConfigError(`${where}: the host of ${endpoint} is not found (DNS): correct artifacts.endpoint`);
  if (code === 'ECONNREFUSED') {
    const t = new Error(`${where}: nothing answers at ${endpoint} (connection refused): is the S3 server running, and is artifacts.endpoint right?`);
    t.name = 'StoreUnavailable';
    return t;
  }
  const msg = (err.message ?? String(e)).split('\n')[0].slice(0, 300);
  const t = new Error(`${what}: ${action} failed${status ? ` (HTTP ${status}${name ? ` ${name}` : ''})` : name ? ` (${name})` : ''}: ${msg}`);
  t.name = 'StoreUnavailable';
  return t;
}
