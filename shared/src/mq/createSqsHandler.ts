import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import type { Cache } from '../cache/createCache.ts';
import { classifyError, InfraError } from '../errors/index.ts';
import { withPowertools } from '../handler/withPowertools.ts';
import { parseQueueArn, queueUrlResolver } from './queues.ts';
import { DLQ_REASON_ATTRIBUTES } from './reasons.ts';

export { DLQ_REASON_ATTRIBUTES };

import { correlationIdFromRecord, eventMetrics, logger, setCorrelationId } from '../observability/index.ts';

// SQS takes at most 10 message attributes per message.
const MAX_ATTRIBUTES = 10;

export interface SqsMessage<T> {
  body: T;
  record: SQSRecord;
  /** 1 on the first delivery. */
  receiveCount: number;
  correlationId: string;
}

export interface RetryOptions {
  /** Delay before the second delivery; doubles for each one after. Default 2 s. */
  baseDelaySeconds?: number;
  /** Cap on the delay; default 900 s (SQS allows 12 h). */
  maxDelaySeconds?: number;
  /** `full` (default) draws the delay between 0 and the step; `none` uses the step itself. */
  jitter?: 'full' | 'none';
}

export interface SqsHandlerOptions<T> {
  /** Validates each body; a body that fails goes to the dead-letter queue on its first delivery. */
  schema?: z.ZodType<T>;
  handle(message: SqsMessage<T>, context: Context): Promise<void> | void;
  retry?: RetryOptions;
  /** Errors that no retry can fix, beyond non-retryable InfraErrors; they go to the dead-letter queue at once. */
  nonRetryable?: (error: unknown) => boolean;
  /**
   * Side effects once per message even when SQS delivers it twice: Powertools Idempotency on the cache's
   * Redis connection, keyed by the message id or by `key`.
   */
  idempotency?: {
    cache: Cache;
    key?: (message: SqsMessage<T>) => string;
    /** How long a handled message is remembered; default 1 hour. */
    expiresAfterSeconds?: number;
  };
  /** Default: the dead-letter queue of the source queue's redrive policy, looked up once. */
  deadLetterQueueUrl?: string;
  client?: SQSClient;
}

/** The delay before a message's next delivery after its `receiveCount`-th failed one. */
export function backoffSeconds(receiveCount: number, retry: RetryOptions = {}, random = Math.random): number {
  const base = retry.baseDelaySeconds ?? 2;
  const max = retry.maxDelaySeconds ?? 900;
  const step = Math.min(max, base * 2 ** Math.max(0, receiveCount - 1));
  return Math.round(retry.jitter === 'none' ? step : random() * step);
}

/**
 * A handler for SQS batches with ReportBatchItemFailures: each record parsed and validated; one that cannot
 * be handled (invalid, or failing with a non-retryable error) sent to the dead-letter queue at once with its
 * reason and counted as handled; a retryable failure reported after pushing the message's next delivery back
 * by an exponential backoff. FIFO batches stop a message group at its first failure.
 */
export function createSqsHandler<T = unknown>(options: SqsHandlerOptions<T>) {
  const client =
    options.client ??
    new SQSClient({
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
    });
  const queueUrl = queueUrlResolver(client);
  const deadLetterUrls = new Map<string, Promise<string>>();

  const deadLetterUrl = (arn: string) => {
    if (options.deadLetterQueueUrl) return Promise.resolve(options.deadLetterQueueUrl);
    let url = deadLetterUrls.get(arn);
    if (!url) {
      url = queueUrl(arn).then(async (source) => {
        const { Attributes } = await client.send(
          new GetQueueAttributesCommand({ QueueUrl: source, AttributeNames: ['RedrivePolicy'] }),
        );
        const policy = Attributes?.RedrivePolicy
          ? (JSON.parse(Attributes.RedrivePolicy) as { deadLetterTargetArn?: string })
          : {};
        if (!policy.deadLetterTargetArn) {
          throw new InfraError(
            `queue ${parseQueueArn(arn).name} has no redrive policy: give deadLetterQueueUrl`,
            {
              type: 'config',
              component: 'mq',
            },
          );
        }
        return queueUrl(policy.deadLetterTargetArn);
      });
      url.catch(() => deadLetterUrls.delete(arn));
      deadLetterUrls.set(arn, url);
    }
    return url;
  };

  const deadLetter = async (record: SQSRecord, receiveCount: number, error: InfraError) => {
    const reasons: Record<string, MessageAttributeValue> = {
      [DLQ_REASON_ATTRIBUTES.errorType]: { DataType: 'String', StringValue: error.type },
      [DLQ_REASON_ATTRIBUTES.errorMessage]: {
        DataType: 'String',
        StringValue: error.message.slice(0, 1_024) || '-',
      },
      [DLQ_REASON_ATTRIBUTES.sourceQueue]: { DataType: 'String', StringValue: record.eventSourceARN },
      [DLQ_REASON_ATTRIBUTES.receiveCount]: { DataType: 'Number', StringValue: String(receiveCount) },
      [DLQ_REASON_ATTRIBUTES.failedAt]: { DataType: 'String', StringValue: new Date().toISOString() },
    };
    // The message's own attributes go along, as many as fit beside the reasons.
    const own = Object.entries(record.messageAttributes ?? {})
      .filter(([, v]) => v.stringValue !== undefined)
      .slice(0, MAX_ATTRIBUTES - Object.keys(reasons).length)
      .map(([name, v]) => [name, { DataType: v.dataType, StringValue: v.stringValue }] as const);
    await client.send(
      new SendMessageCommand({
        QueueUrl: await deadLetterUrl(record.eventSourceARN),
        MessageBody: record.body,
        MessageAttributes: { ...Object.fromEntries(own), ...reasons },
        ...(record.attributes.MessageGroupId ? { MessageGroupId: record.attributes.MessageGroupId } : {}),
        ...(record.attributes.MessageDeduplicationId
          ? { MessageDeduplicationId: record.attributes.MessageDeduplicationId }
          : {}),
      }),
    );
    eventMetrics.deadLettered(1, { errorType: error.type });
    logger.warn('message sent to the dead-letter queue', {
      messageId: record.messageId,
      error: error.toJSON(),
    });
  };

  // Idempotency errors that a later delivery may get past: another container is handling the message, or
  // the record store is unreachable. Classified by name, they would count as permanent.
  const TRANSIENT_IDEMPOTENCY = new Set([
    'IdempotencyAlreadyInProgressError',
    'IdempotencyPersistenceLayerError',
  ]);
  const idempotencyConfig = options.idempotency
    ? new IdempotencyConfig({
        eventKeyJmesPath: 'key',
        expiresAfterSeconds: options.idempotency.expiresAfterSeconds ?? 3_600,
      })
    : undefined;
  let idempotentHandle:
    | ((keyed: { key: string }, message: SqsMessage<T>, context: Context) => Promise<boolean>)
    | undefined;
  const handleOnce = async (message: SqsMessage<T>, context: Context) => {
    const idempotency = options.idempotency;
    if (!idempotency || !idempotencyConfig) return options.handle(message, context);
    if (!idempotentHandle) {
      const persistenceStore = new CachePersistenceLayer({
        client: (await idempotency.cache.client()) as never,
      });
      idempotentHandle = makeIdempotent(
        async (_keyed: { key: string }, m: SqsMessage<T>, c: Context) => {
          await options.handle(m, c);
          return true;
        },
        {
          persistenceStore,
          config: idempotencyConfig,
          dataIndexArgument: 0,
          keyPrefix: `${idempotency.cache.namespace}idempotency`,
        },
      );
    }
    idempotencyConfig.registerLambdaContext(context);
    const key = idempotency.key ? idempotency.key(message) : message.record.messageId;
    try {
      await idempotentHandle({ key }, message, context);
    } catch (error) {
      if (error instanceof Error && TRANSIENT_IDEMPOTENCY.has(error.name)) {
        throw new InfraError(`message ${message.record.messageId}: ${error.message}`, {
          type: 'connection',
          component: 'mq',
          cause: error,
          code: error.name,
        });
      }
      throw error;
    }
  };

  const handleRecord = async (record: SQSRecord, context: Context) => {
    const started = performance.now();
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
    const correlationId = correlationIdFromRecord(record) ?? record.messageId;
    setCorrelationId(correlationId);
    let body: unknown;
    try {
      try {
        body = JSON.parse(record.body);
      } catch (error) {
        throw new InfraError(`message body is not JSON: ${(error as Error).message}`, {
          type: 'validation',
          component: 'mq',
        });
      }
      if (options.schema) {
        const parsed = options.schema.safeParse(body);
        if (!parsed.success) {
          const fields = classifyError(parsed.error, 'mq').fields;
          throw new InfraError(
            `message body is invalid: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`,
            {
              type: 'validation',
              component: 'mq',
              fields,
            },
          );
        }
        body = parsed.data;
      }
      await handleOnce({ body: body as T, record, receiveCount, correlationId }, context);
      eventMetrics.handled();
      eventMetrics.handlingDuration(performance.now() - started);
    } catch (error) {
      const infra = classifyError(error, 'mq');
      eventMetrics.errors(infra.type);
      if (!infra.retryable || options.nonRetryable?.(error)) {
        // Sent to the dead-letter queue, the message is handled and leaves the source queue. If that send
        // fails, it stays a failure, so the message is not lost.
        await deadLetter(record, receiveCount, infra);
        return;
      }
      const delay = backoffSeconds(receiveCount, options.retry);
      try {
        await client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: await queueUrl(record.eventSourceARN),
            ReceiptHandle: record.receiptHandle,
            VisibilityTimeout: delay,
          }),
        );
      } catch (visibilityError) {
        logger.warn('could not set the retry delay; the queue visibility timeout applies', {
          messageId: record.messageId,
          error: classifyError(visibilityError, 'mq').toJSON(),
        });
      }
      eventMetrics.retried();
      throw infra;
    }
  };

  return withPowertools<SQSEvent, SQSBatchResponse>(async (event, context) => {
    const handler = (record: SQSRecord) => handleRecord(record, context);
    if (event.Records[0]?.eventSourceARN.endsWith('.fifo')) {
      // Only the failed message's group stops; other groups in the batch go on.
      return processPartialResponse(event, handler, new SqsFifoPartialProcessorAsync(), {
        context,
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      });
    }
    return processPartialResponse(event, handler, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
  });
}
