import { type FieldError, InfraError, type InfraErrorType } from './InfraError.ts';

interface Verdict {
  type: InfraErrorType;
  retryable?: boolean;
  code?: string;
  fields?: FieldError[];
}

type ErrorLike = Record<string, unknown> & { name?: unknown; message?: unknown; code?: unknown };

const AWS_THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'LimitExceededException',
  'RequestThrottled',
  'SlowDown',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
  'TooManyUpdates',
  'KMSThrottlingException',
]);

const AWS_VALIDATION = new Set([
  'ValidationException',
  'ValidationError',
  'SerializationException',
  'InvalidParameterValue',
  'InvalidParameterValueException',
  'InvalidParameterException',
  'InvalidParameterCombination',
  'MissingParameter',
  'InvalidAttributeValue',
  'InvalidMessageContents',
  'InvalidBatchEntryId',
  'BatchEntryIdsNotDistinct',
  'BatchRequestTooLong',
  'EmptyBatchRequest',
  'TooManyEntriesInBatchRequest',
  'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  'AWS.SimpleQueueService.BatchRequestTooLong',
  'AWS.SimpleQueueService.EmptyBatchRequest',
  'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  'ParameterPatternMismatchException',
  'HierarchyLevelLimitExceededException',
]);

const AWS_CONFIG = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
  'KMSInvalidStateException',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
]);

const TIMEOUT_NAMES = new Set([
  'TimeoutError',
  'ConnectionTimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTCONN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
]);

// node-redis signals these by class name; matched by name so errors needs no import of the client.
const REDIS_CONNECTION = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ReconnectStrategyError',
  'DisconnectsClientError',
  'SocketTimeoutError',
]);

// Redis server replies that a later attempt may not get.
const REDIS_TRANSIENT_REPLIES = new Set([
  'LOADING',
  'BUSY',
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'READONLY',
]);
const REDIS_AUTH_REPLIES = new Set(['NOAUTH', 'WRONGPASS', 'NOPERM']);

// pg's own messages for a lost or never-made connection (it sets no code on these).
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
];
const PG_TIMEOUT_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Query read timeout',
];

function sqlStateVerdict(code: string): Verdict | undefined {
  if (!/^[0-9A-Z]{5}$/.test(code)) return undefined;
  if (code === '40001' || code === '40P01') return { type: 'internal', retryable: true, code };
  if (code === '57014' || code === '55P03') return { type: 'timeout', code };
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
    return { type: 'connection', code };
  }
  if (code.startsWith('53')) return { type: 'throttled', code };
  if (code.startsWith('28') || code === '42501' || code === '3D000') return { type: 'config', code };
  if (code.startsWith('22') || code.startsWith('23') || code.startsWith('42')) {
    return { type: 'validation', code };
  }
  return { type: 'internal', code };
}

function redisReplyVerdict(message: string): Verdict {
  const prefix = message.split(' ', 1)[0] ?? '';
  if (REDIS_TRANSIENT_REPLIES.has(prefix)) return { type: 'connection', code: prefix };
  if (REDIS_AUTH_REPLIES.has(prefix)) return { type: 'config', code: prefix };
  if (prefix === 'OOM') return { type: 'throttled', code: prefix };
  if (prefix === 'WRONGTYPE') return { type: 'validation', code: prefix };
  return { type: 'internal', code: prefix || undefined };
}

function zodFields(issues: unknown): FieldError[] {
  if (!Array.isArray(issues)) return [];
  return issues.map((issue: { path?: unknown[]; message?: string; code?: string }) => ({
    path: (issue.path ?? []).map(String).join('.') || '(root)',
    message: issue.message ?? 'invalid',
    ...(issue.code ? { rule: issue.code } : {}),
  }));
}

/** What one error, looked at alone, says about itself; undefined when it says nothing recognisable. */
/**
 * The error's name and the class names along its prototype chain: node-redis leaves `name` as 'Error' and is
 * known only by class (`SimpleError extends ErrorReply`). Bundles must keep class names (esbuild `keepNames`).
 */
function namesOf(error: ErrorLike): Set<string> {
  const names = new Set<string>();
  if (typeof error.name === 'string' && error.name !== 'Error') names.add(error.name);
  let proto: unknown = Object.getPrototypeOf(error);
  while (proto && proto !== Error.prototype && proto !== Object.prototype) {
    const ctor = (proto as { constructor?: { name?: string } }).constructor;
    if (ctor?.name) names.add(ctor.name);
    proto = Object.getPrototypeOf(proto);
  }
  return names;
}

const hasAny = (names: Set<string>, set: ReadonlySet<string>) => [...names].some((n) => set.has(n));

function verdictOf(error: ErrorLike): Verdict | undefined {
  const names = namesOf(error);
  const name: string = names.values().next().value ?? '';
  const message = typeof error.message === 'string' ? error.message : '';
  const code = typeof error.code === 'string' ? error.code : undefined;

  if (name === 'ZodError') return { type: 'validation', fields: zodFields(error.issues) };

  // Socket errors first: the SDK attaches $metadata to those too.
  if (code && TIMEOUT_CODES.has(code)) return { type: 'timeout', code };
  if (code && NETWORK_CODES.has(code)) return { type: 'connection', code };

  // AWS SDK v3 service errors carry $metadata and $fault; their name is the service's error code.
  const metadata = error.$metadata as { httpStatusCode?: number } | undefined;
  const retryableHint = error.$retryable as { throttling?: boolean } | undefined;
  if (retryableHint?.throttling || AWS_THROTTLING.has(name)) return { type: 'throttled', code: name };
  if (name === 'CredentialsProviderError' || AWS_CONFIG.has(name)) return { type: 'config', code: name };
  if (AWS_VALIDATION.has(name)) return { type: 'validation', code: name };
  if (metadata !== undefined || error.$fault !== undefined) {
    const status = metadata?.httpStatusCode ?? 0;
    if (status === 429) return { type: 'throttled', code: name };
    if (status === 408 || status === 504) return { type: 'timeout', code: name };
    if (error.$fault === 'server' || status >= 500) return { type: 'internal', retryable: true, code: name };
    return { type: 'internal', code: name };
  }

  if (hasAny(names, TIMEOUT_NAMES)) return { type: 'timeout', code: name };
  if (hasAny(names, REDIS_CONNECTION)) return { type: 'connection', code: name };
  if (names.has('WatchError')) return { type: 'internal', retryable: true, code: name };
  if (names.has('ErrorReply')) return redisReplyVerdict(message);

  if (code) {
    const sql = sqlStateVerdict(code);
    if (sql && (name === 'error' || name === 'DatabaseError' || 'severity' in error)) return sql;
  }
  if (PG_TIMEOUT_MESSAGES.some((m) => message.includes(m))) return { type: 'timeout' };
  if (PG_CONNECTION_MESSAGES.some((m) => message.includes(m))) return { type: 'connection' };
  return undefined;
}

/** The error and what it wraps: `cause` chains (Powertools wraps SDK errors) and AggregateError members. */
function* layers(error: unknown): Generator<ErrorLike> {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 16) {
    const next = queue.shift();
    if (next === null || typeof next !== 'object' || seen.has(next)) continue;
    seen.add(next);
    yield next as ErrorLike;
    const { cause, errors } = next as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
}

/**
 * Turns whatever the AWS SDK, node-redis, pg, zod or Node's sockets threw into an `InfraError` of the given
 * component. An `InfraError` passes through unchanged. The original is kept as `cause`.
 */
export function classifyError(error: unknown, component: string): InfraError {
  if (error instanceof InfraError) return error;
  let verdict: Verdict | undefined;
  for (const layer of layers(error)) {
    verdict = verdictOf(layer);
    if (verdict) break;
  }
  const message =
    error instanceof Error
      ? error.message || error.name
      : typeof error === 'string'
        ? error
        : 'unknown error';
  const { type, ...rest } = verdict ?? { type: 'internal' as const };
  return new InfraError(message, { type, component, cause: error, ...rest });
}
