import { logger } from './logger.ts';

/** The HTTP header and SQS message attribute that carry a correlation id between services. */
export const CORRELATION_HEADER = 'x-correlation-id';
export const CORRELATION_ATTRIBUTE = 'correlationId';

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

/** The correlation id an SQS record carries, or its message id. */
export function correlationIdFromRecord(record: SqsRecordLike): string | undefined {
  return record.messageAttributes?.[CORRELATION_ATTRIBUTE]?.stringValue || record.messageId;
}

/**
 * The correlation id of an incoming event: the `x-correlation-id` header or the API Gateway request id for
 * HTTP events, the `correlationId` attribute of the first record for SQS batches.
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
  return header(e.headers, CORRELATION_HEADER) ?? e.requestContext?.requestId;
}

/** Puts the id on every following log line and on every message this container publishes. */
export function setCorrelationId(id: string | undefined): void {
  logger.setCorrelationId(id);
}

export function getCorrelationId(): string | undefined {
  const id = logger.getCorrelationId();
  return typeof id === 'string' ? id : undefined;
}

/** SQS message attributes that carry the current correlation id to the consumer. */
export function correlationAttributes(): Record<string, { DataType: 'String'; StringValue: string }> {
  const id = getCorrelationId();
  return id ? { [CORRELATION_ATTRIBUTE]: { DataType: 'String', StringValue: id } } : {};
}
