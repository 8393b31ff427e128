import { randomUUID } from 'node:crypto';
import { logger } from './logger.ts';
import { correlationScope as scoped } from './scope.ts';

/** The HTTP header and SQS message attribute that carry a correlation id between services. */
export const CORRELATION_HEADER = 'x-correlation-id';
export const CORRELATION_ATTRIBUTE = 'correlationId';

/**
 * What an incoming correlation id may be: short, and of characters that are safe in a header, a log line and a
 * message attribute. Anything else (CR/LF, a 100 KB value) is replaced by a new id, never echoed.
 */
const SAFE_ID = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;

export function isSafeCorrelationId(value: unknown): value is string {
  return typeof value === 'string' && SAFE_ID.test(value);
}

type Headers = Record<string, string | undefined> | undefined;

function header(headers: Headers, name: string): string | undefined {
  if (!headers) return undefined;
  // HTTP API v2 and Function URLs send header names in lower case; other shapes get the scan.
  const direct = headers[name];
  if (direct) return direct;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value) return value;
  }
  return undefined;
}

interface SqsRecordLike {
  messageId?: string;
  messageAttributes?: Record<string, { stringValue?: string; dataType?: string }>;
}

/** The correlation id an SQS record carries when it is a safe one, else its message id. */
export function correlationIdFromRecord(record: SqsRecordLike): string | undefined {
  const carried = record.messageAttributes?.[CORRELATION_ATTRIBUTE]?.stringValue;
  return isSafeCorrelationId(carried) ? carried : record.messageId;
}

/**
 * The correlation id of an incoming event: a safe `x-correlation-id` header, else the API Gateway request id, else
 * a new one, for HTTP events; the `correlationId` attribute of the first record for SQS batches.
 */
export function correlationIdFromEvent(event: unknown): string | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  const e = event as {
    headers?: Headers;
    requestContext?: { requestId?: string };
    Records?: SqsRecordLike[];
  };
  if (Array.isArray(e.Records)) {
    const first = e.Records[0];
    return first ? correlationIdFromRecord(first) : undefined;
  }
  const given = header(e.headers, CORRELATION_HEADER);
  if (isSafeCorrelationId(given)) return given;
  const requestId = e.requestContext?.requestId;
  if (isSafeCorrelationId(requestId)) return requestId;
  return e.headers || e.requestContext ? randomUUID() : undefined;
}

/** Puts the id on every following log line and on every message this container publishes. */
export function setCorrelationId(id: string | undefined): void {
  logger.setCorrelationId(id);
}

/**
 * Runs `fn` with `id` as the correlation id of everything it does (log lines, published messages, metrics),
 * whatever else runs at the same time in the container: the SQS consumer handles a batch's records at once.
 */
export function withCorrelationId<T>(id: string, fn: () => T): T {
  return scoped.run(id, fn);
}

export function getCorrelationId(): string | undefined {
  const inScope = scoped.getStore();
  if (inScope !== undefined) return inScope;
  const id = logger.getCorrelationId();
  return typeof id === 'string' ? id : undefined;
}

/** SQS message attributes that carry the current correlation id to the consumer. */
export function correlationAttributes(): Record<string, { DataType: 'String'; StringValue: string }> {
  const id = getCorrelationId();
  return id ? { [CORRELATION_ATTRIBUTE]: { DataType: 'String', StringValue: id } } : {};
}
