import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import type { Cache } from '../cache/createCache.ts';
import type { Config } from '../config/defineConfig.ts';
import {
  checkOptions,
  classifyError,
  InfraError,
  invocationDeadline,
  withDeadline,
  withDefaults,
} from '../errors/index.ts';
import {
  correlationIdFromRecord,
  eventMetrics,
  logger,
  TRACE_ATTRIBUTE,
  tracing,
  withCorrelationId,
} from '../observability/index.ts';
import type { ConsumedMessage } from '../observability/tracing.ts';
import { withPowertools } from '../observability/withPowertools.ts';
import { attributeBytes, bodyShapeProblem, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES } from './limits.ts';
import { parseQueueArn, queueUrlResolver } from './queues.ts';
import { DLQ_REASON_ATTRIBUTES } from './reasons.ts';
import {
  backoffSeconds,
  MAX_VISIBILITY_SECONDS,
  type RetryOptions,
  retryConfigDefaults,
  retryConfigSchema,
} from './retry.ts';

export { DLQ_REASON_ATTRIBUTES };

export interface SqsMessage<T> {
  body: T;
  record: SQSRecord;
  /** 1 on the first delivery. */
  receiveCount: number;
  correlationId: string;
}

export interface SqsHandlerOptions<T> {
  /** Validates each body; a body that fails goes to the dead-letter queue on its first delivery. */
  schema?: z.ZodType<T>;
  handle(message: SqsMessage<T>, context: Context): Promise<void> | void;
  /** The retry schedule, or a config component holding it (`retryConfigSchema`), read at each retry. */
  retry?: RetryOptions | Config<RetryOptions>;
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
  /**
   * Time kept back from the invocation's remaining time: a record still running when only this much is left
   * is answered as a retryable failure, so the batch reports before Lambda stops the function. Default 1 s.
   */
  timeMarginMs?: number;
  client?: SQSClient;
}

/** A message that cannot be handled whatever the dependencies do: its body is not JSON, too deep, or invalid. */
class RejectedMessage extends InfraError {}

/** A FIFO group stopped by a failed record in this batch: the delay set on it, and why it failed. */
interface HeldGroup {
  delay: number;
  error: InfraError;
}

interface RedriveTarget {
  url: string;
  /** Deliveries before the queue's redrive policy moves a message; undefined when not known. */
  maxReceiveCount: number | undefined;
}

// Characters SQS accepts in a String attribute (#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is about control characters
const NOT_XML_CHAR = /[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/** `text` cut to at most `bytes` of UTF-8, never inside a character, with what SQS refuses replaced. */
function fitText(text: string, bytes: number): string {
  const clean = text.replace(NOT_XML_CHAR, '\ufffd');
  if (Buffer.byteLength(clean) <= bytes) return clean;
  let cut = '';
  let used = 0;
  for (const char of clean) {
    const size = Buffer.byteLength(char);
    if (used + size > bytes - 3) break;
    cut += char;
    used += size;
  }
  return `${cut}…`;
}

/** The code and retry time of an open circuit anywhere in the error's cause chain. */
function openCircuitRetryMs(error: unknown): number | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const { code, retryAfterMs, cause } = e as { code?: unknown; retryAfterMs?: unknown; cause?: unknown };
    if (code === 'CIRCUIT_OPEN' && typeof retryAfterMs === 'number') return retryAfterMs;
    e = cause;
  }
  return undefined;
}

/** A record for its trace: the trace it carries is X-Ray's system attribute, else the library's message attribute. */
const consumedMessage = (record: SQSRecord): ConsumedMessage => ({
  source: record.eventSourceARN.slice(record.eventSourceARN.lastIndexOf(':') + 1),
  id: record.messageId,
  header: record.attributes.AWSTraceHeader ?? record.messageAttributes?.[TRACE_ATTRIBUTE]?.stringValue,
});

const receiveCountOf = (record: SQSRecord) => Number(record.attributes.ApproximateReceiveCount ?? '1');

const isConfig = (retry: SqsHandlerOptions<unknown>['retry']): retry is Config<RetryOptions> =>
  typeof (retry as Config<RetryOptions> | undefined)?.get === 'function';

/**
 * A handler for SQS batches with ReportBatchItemFailures: each record parsed and validated; one that cannot
 * be handled (invalid, or failing with a non-retryable error) sent to the dead-letter queue at once with its
 * reason and counted as handled; a retryable failure reported after pushing the message's next delivery back
 * by an exponential backoff, and on its last allowed delivery dead-lettered with its reason. FIFO batches stop
 * a message group at its first failure.
 */
export function createSqsHandler<T = unknown>(options: SqsHandlerOptions<T>) {
  // Made at its first call, not with the handler: a container whose records all succeed never needs it, and
  // the cold start does not pay for it.
  let made = options.client;
  const sqs = (): SQSClient =>
    (made ??= new SQSClient({
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
    }));
  const queueUrl = queueUrlResolver(sqs);
  const targets = new Map<string, Promise<RedriveTarget>>();
  const marginMs = options.timeMarginMs ?? 1_000;
  if (options.retry && !isConfig(options.retry)) {
    checkOptions('mq', retryConfigSchema, withDefaults(retryConfigDefaults, options.retry));
  }

  /** The source queue's dead-letter queue and its maxReceiveCount, from its redrive policy, once per queue. */
  const redriveTarget = (arn: string): Promise<RedriveTarget> => {
    let target = targets.get(arn);
    if (!target) {
      target = queueUrl(arn).then(async (source) => {
        const { Attributes } = await sqs().send(
          new GetQueueAttributesCommand({ QueueUrl: source, AttributeNames: ['RedrivePolicy'] }),
        );
        const policy = Attributes?.RedrivePolicy
          ? (JSON.parse(Attributes.RedrivePolicy) as {
              deadLetterTargetArn?: string;
              maxReceiveCount?: unknown;
            })
          : {};
        const maxReceiveCount = Number(policy.maxReceiveCount) || undefined;
        if (options.deadLetterQueueUrl) return { url: options.deadLetterQueueUrl, maxReceiveCount };
        if (!policy.deadLetterTargetArn) {
          throw new InfraError(
            `queue ${parseQueueArn(arn).name} has no redrive policy: give deadLetterQueueUrl`,
            { type: 'config', component: 'mq' },
          );
        }
        return { url: await queueUrl(policy.deadLetterTargetArn), maxReceiveCount };
      });
      // A dead-letter queue given by the caller works without the lookup, which only adds maxReceiveCount.
      const given = options.deadLetterQueueUrl;
      if (given) target = target.catch(() => ({ url: given, maxReceiveCount: undefined }));
      target.catch(() => targets.delete(arn));
      targets.set(arn, target);
    }
    return target;
  };

  /**
   * The reasons, and as many of the message's own attributes as fit beside them within SQS's limits of 10
   * attributes and 1 MiB: the error type and the source queue always, the message text cut to what is left.
   */
  const reasonAttributes = (record: SQSRecord, receiveCount: number, error: InfraError) => {
    const attributes: Record<string, MessageAttributeValue> = {};
    let budget = MAX_MESSAGE_BYTES - Buffer.byteLength(record.body);
    const add = (name: string, value: MessageAttributeValue) => {
      const size = attributeBytes({ [name]: value });
      if (size > budget || Object.keys(attributes).length >= MAX_ATTRIBUTES) return;
      attributes[name] = value;
      budget -= size;
    };
    const text = (value: string) => ({ DataType: 'String', StringValue: fitText(value, 1_024) || '-' });
    add(DLQ_REASON_ATTRIBUTES.errorType, text(error.type));
    add(DLQ_REASON_ATTRIBUTES.sourceQueue, text(record.eventSourceARN));
    add(DLQ_REASON_ATTRIBUTES.receiveCount, { DataType: 'Number', StringValue: String(receiveCount) });
    add(DLQ_REASON_ATTRIBUTES.failedAt, text(new Date().toISOString()));
    const name = DLQ_REASON_ATTRIBUTES.errorMessage;
    const room = budget - attributeBytes({ [name]: { DataType: 'String', StringValue: '' } });
    if (room > 0)
      add(name, { DataType: 'String', StringValue: fitText(error.message, Math.min(1_024, room)) || '-' });
    // The message's own attributes go along, as many as fit beside the reasons.
    for (const [own, v] of Object.entries(record.messageAttributes ?? {})) {
      if (v.stringValue !== undefined) add(own, { DataType: v.dataType, StringValue: v.stringValue });
    }
    return attributes;
  };

  const deadLetter = async (record: SQSRecord, receiveCount: number, error: InfraError, deadline: number) => {
    const target = await withDeadline(redriveTarget(record.eventSourceARN), deadline, 'dead-letter lookup');
    const group = record.attributes.MessageGroupId;
    await withDeadline(
      sqs().send(
        new SendMessageCommand({
          QueueUrl: target.url,
          MessageBody: record.body,
          MessageAttributes: reasonAttributes(record, receiveCount, error),
          // A FIFO dead-letter queue drops a deduplication id it saw in the last 5 minutes without a word, so
          // each delivery gets its own: a retried send of the same delivery is still deduplicated.
          ...(group
            ? { MessageGroupId: group, MessageDeduplicationId: `${record.messageId}-${receiveCount}` }
            : {}),
        }),
      ),
      deadline,
      'dead-letter send',
    );
    eventMetrics.deadLettered(1, { errorType: error.type });
    logger.warn('message sent to the dead-letter queue', {
      messageId: record.messageId,
      receiveCount,
      error: error.toJSON(),
    });
  };

  const retrySchedule = async (): Promise<RetryOptions> => {
    if (!isConfig(options.retry)) return options.retry ?? retryConfigDefaults;
    try {
      return await options.retry.get();
    } catch {
      return retryConfigDefaults;
    }
  };

  /** The delay before the next delivery: the backoff, and at least until an open circuit's next probe. */
  const retryDelay = async (receiveCount: number, error: unknown): Promise<number> => {
    let delay = backoffSeconds(receiveCount, await retrySchedule());
    const circuitMs = openCircuitRetryMs(error);
    if (circuitMs !== undefined && Number.isFinite(circuitMs))
      delay = Math.max(delay, Math.ceil(circuitMs / 1_000) + 1);
    return Math.min(delay, MAX_VISIBILITY_SECONDS);
  };

  /** Pushes the next delivery of these records of one queue back by `delay` seconds, set on each message. */
  const delayRecords = async (records: SQSRecord[], delay: number, deadline: number) => {
    if (records.length === 0) return;
    try {
      const url = await withDeadline(queueUrl(records[0]!.eventSourceARN), deadline, 'retry delay');
      for (let i = 0; i < records.length; i += 10) {
        const { Failed = [] } = await withDeadline(
          sqs().send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: url,
              Entries: records.slice(i, i + 10).map((r, j) => ({
                Id: String(j),
                ReceiptHandle: r.receiptHandle,
                VisibilityTimeout: delay,
              })),
            }),
          ),
          deadline,
          'retry delay',
        );
        // A batch answers per entry: an entry it refused is logged as a refused single call would be.
        for (const failed of Failed) {
          logger.warn('could not set the retry delay; the queue visibility timeout applies', {
            messageId: records[i + Number(failed.Id)]?.messageId,
            error: { code: failed.Code, message: failed.Message },
          });
        }
      }
    } catch (visibilityError) {
      logger.warn('could not set the retry delay; the queue visibility timeout applies', {
        messageIds: records.map((r) => r.messageId),
        error: classifyError(visibilityError, 'mq').toJSON(),
      });
    }
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
        // Bounded like every cache command: a hung Redis fails the check, the message is retried.
        client: idempotency.cache.recordStore(),
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

  /** The body as JSON, checked for depth and against the schema; what fails is the message's own fault. */
  const parse = (record: SQSRecord): T => {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch (error) {
      throw new RejectedMessage(`message body is not JSON: ${(error as Error).message}`, {
        type: 'validation',
        component: 'mq',
      });
    }
    const shape = bodyShapeProblem(body);
    if (shape) throw new RejectedMessage(`message body ${shape}`, { type: 'validation', component: 'mq' });
    if (!options.schema) return body as T;
    const parsed = options.schema.safeParse(body);
    if (!parsed.success) {
      const fields = classifyError(parsed.error, 'mq').fields;
      throw new RejectedMessage(
        `message body is invalid: ${fields.map((f) => `${f.path}: ${f.message}`).join('; ')}`,
        { type: 'validation', component: 'mq', fields },
      );
    }
    return parsed.data;
  };

  /**
   * Whether no retry can help: the body is at fault, or `handle` threw a non-retryable error for this message.
   * A config error (a missing binding, an invalid component, a client that could not be made, access denied)
   * is the deployment's fault, not the message's: it is retried, and may be fixed without a redeploy.
   */
  /**
   * Whether this is the last delivery the source queue's redrive policy allows; false when that is not known,
   * or not learnt before `deadline`.
   */
  const isLastDelivery = async (record: SQSRecord, receiveCount: number, deadline: number) => {
    const target = await withDeadline(
      redriveTarget(record.eventSourceARN),
      deadline,
      'dead-letter lookup',
    ).catch(() => undefined);
    return target?.maxReceiveCount !== undefined && receiveCount >= target.maxReceiveCount;
  };

  const isPermanent = (error: unknown, infra: InfraError): boolean => {
    if (error instanceof RejectedMessage) return true;
    if (options.nonRetryable?.(error)) return true;
    if (infra.retryable || infra.type === 'config' || infra.component === 'config') return false;
    return true;
  };

  const handleRecord = async (
    record: SQSRecord,
    context: Context,
    deadline: number,
    heldGroups?: Map<string, HeldGroup>,
  ) => {
    const started = performance.now();
    const receiveCount = receiveCountOf(record);
    const correlationId = correlationIdFromRecord(record) ?? record.messageId;
    // What a failure does (dead-letter, or delay the retry) may run into the margin, not past half of it.
    const settleBy = deadline + marginMs / 2;
    await withCorrelationId(correlationId, () =>
      tracing.consumer(consumedMessage(record), async () => {
        try {
          const body = parse(record);
          await withDeadline(
            Promise.resolve().then(() => handleOnce({ body, record, receiveCount, correlationId }, context)),
            deadline,
            'handling the message',
          );
          eventMetrics.handled();
          eventMetrics.handlingDuration(performance.now() - started);
        } catch (error) {
          const infra = classifyError(error, 'mq');
          eventMetrics.errors(infra.type);
          if (isPermanent(error, infra)) {
            // Sent to the dead-letter queue, the message is handled and leaves the source queue. If that send
            // fails, it stays a failure, so the message is not lost.
            await deadLetter(record, receiveCount, infra, settleBy);
            return;
          }
          if (await isLastDelivery(record, receiveCount, settleBy)) {
            // The last delivery the redrive policy allows: dead-lettered here, with the reason the policy's own
            // move would not carry.
            const exhausted = new InfraError(`gave up after ${receiveCount} deliveries: ${infra.message}`, {
              type: infra.type,
              component: infra.component,
              cause: error,
              ...(infra.code ? { code: infra.code } : {}),
            });
            await deadLetter(record, receiveCount, exhausted, settleBy);
            return;
          }
          const delay = await retryDelay(receiveCount, error);
          const group = record.attributes.MessageGroupId;
          if (group !== undefined) heldGroups?.set(group, { delay, error: infra });
          await delayRecords([record], delay, settleBy);
          eventMetrics.retried();
          throw infra;
        }
      }),
    );
  };

  /**
   * The records of a FIFO batch skipped behind a failed one of their group: they come back with it, in order
   * (the same delay), rather than after the queue's whole visibility timeout. Each skip costs them a
   * receive, so one that has had all its deliveries goes to the dead-letter queue here, with the reason, rather
   * than through the redrive policy without one.
   */
  const holdSkipped = async (
    event: SQSEvent,
    response: SQSBatchResponse,
    handled: Set<string>,
    held: Map<string, HeldGroup>,
    deadline: number,
  ) => {
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const byGroup = new Map<string, SQSRecord[]>();
    for (const record of event.Records) {
      const group = record.attributes.MessageGroupId;
      if (group === undefined || handled.has(record.messageId) || !failed.has(record.messageId)) continue;
      const records = byGroup.get(group);
      if (records) records.push(record);
      else byGroup.set(group, [record]);
    }
    for (const [group, records] of byGroup) {
      const head = held.get(group);
      if (!head) continue;
      const keep: SQSRecord[] = [];
      for (const record of records) {
        const receiveCount = receiveCountOf(record);
        if (await isLastDelivery(record, receiveCount, deadline)) {
          const reason = new InfraError(
            `gave up after ${receiveCount} deliveries held behind a failed message of group ${group}: ${head.error.message}`,
            { type: head.error.type, component: head.error.component },
          );
          try {
            await withCorrelationId(correlationIdFromRecord(record) ?? record.messageId, () =>
              deadLetter(record, receiveCount, reason, deadline),
            );
            response.batchItemFailures = response.batchItemFailures.filter(
              (f) => f.itemIdentifier !== record.messageId,
            );
            continue;
          } catch {
            // Not sent: it stays a failure, and is not lost.
          }
        }
        keep.push(record);
      }
      await delayRecords(keep, head.delay, deadline);
    }
  };

  return withPowertools<SQSEvent, SQSBatchResponse>(async (event, context) => {
    const deadline = invocationDeadline(context, marginMs);
    if (event.Records[0]?.eventSourceARN.endsWith('.fifo')) {
      // Only the failed message's group stops; other groups in the batch go on.
      const held = new Map<string, HeldGroup>();
      const handled = new Set<string>();
      const response = await processPartialResponse(
        event,
        (record: SQSRecord) => {
          handled.add(record.messageId);
          return handleRecord(record, context, deadline, held);
        },
        new SqsFifoPartialProcessorAsync(),
        { context, skipGroupOnError: true, throwOnFullBatchFailure: false },
      );
      await holdSkipped(event, response, handled, held, deadline + marginMs / 2);
      return response;
    }
    const handler = (record: SQSRecord) => handleRecord(record, context, deadline);
    return processPartialResponse(event, handler, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
  });
}
