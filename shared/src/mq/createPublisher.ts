import {
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { type Breaker, BreakerOpenError, consecutive, createBreaker } from '../breaker/index.ts';
import {
  backoffDelay,
  classifyError,
  type FieldError,
  InfraError,
  invalidOption,
  sleep,
  withDefaults,
} from '../errors/index.ts';
import { eventMetrics } from '../observability/catalog.ts';
import { correlationAttributes } from '../observability/correlation.ts';
import { TRACE_ATTRIBUTE, tracing } from '../observability/tracing.ts';
import {
  attributeBytes,
  bodyShapeProblem,
  encodeBody,
  MAX_ATTRIBUTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_ENTRIES,
  MAX_MESSAGE_BYTES,
} from './limits.ts';

export { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES };

export interface PublishOptions {
  /** FIFO queues: required. */
  groupId?: string;
  /** FIFO queues without content-based deduplication: required. */
  deduplicationId?: string;
  delaySeconds?: number;
  attributes?: Record<string, string | number>;
}

export interface BatchItem<T> extends PublishOptions {
  body: T;
}

export interface BatchResult {
  successful: { index: number; messageId: string; sequenceNumber?: string }[];
  /** Entries that were not sent, with why; retryable ones failed on every attempt. */
  failed: { index: number; code: string; message: string; retryable: boolean }[];
  /** SendMessageBatch calls made. */
  calls: number;
}

export interface PublisherOptions<T> {
  queueUrl: string;
  /** Validates every body before anything is sent. */
  schema?: z.ZodType<T>;
  /** Default: one that takes its endpoint from AWS_ENDPOINT_URL(_SQS), with request timeouts that throw. */
  client?: SQSClient;
  /** Default: 5 failures in a row open it for 5 s; `false` for none. */
  breaker?: Breaker | false;
  /**
   * Attempts per entry, the first included.
   * @default 4
   */
  maxAttempts?: number;
  /**
   * Backoff between attempts: full jitter on min(maxDelayMs, baseDelayMs * 2^attempt).
   * @default 50
   */
  baseDelayMs?: number;
  /** @default 1000 */
  maxDelayMs?: number;
}

/** What a publisher takes for an option not given. */
export const publisherDefaults = { maxAttempts: 4, baseDelayMs: 50, maxDelayMs: 1_000 };

interface Prepared {
  index: number;
  entry: SendMessageBatchRequestEntry;
  bytes: number;
}

/**
 * Sends to one queue: bodies checked against the schema and the size limits before anything is sent, batches
 * of at most 10 entries and 1 MiB, retryable failures retried with backoff, the correlation id and trace header
 * on every message, and every call through a circuit breaker.
 */
export class Publisher<T> {
  readonly queueUrl: string;
  readonly fifo: boolean;
  readonly #queueName: string;
  readonly #schema: z.ZodType<T> | undefined;
  readonly #client: SQSClient;
  readonly breaker: Breaker | undefined;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(options: PublisherOptions<T>) {
    this.queueUrl = options.queueUrl;
    this.#queueName = options.queueUrl.split('/').at(-1) ?? options.queueUrl;
    this.fifo = this.#queueName.endsWith('.fifo');
    this.#schema = options.schema;
    this.#client =
      options.client ??
      new SQSClient({
        // Retries are this publisher's own, per entry; the SDK's would multiply them.
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
      });
    this.breaker =
      options.breaker === false
        ? undefined
        : (options.breaker ??
          createBreaker({ name: `sqs:${this.#queueName}`, strategy: consecutive(5), openMs: 5_000 }));
    const { maxAttempts, baseDelayMs, maxDelayMs } = withDefaults(publisherDefaults, options);
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw invalidOption('mq', 'maxAttempts', `must be a whole number of at least 1, got ${maxAttempts}`);
    }
    if (!(baseDelayMs >= 0) || !(maxDelayMs >= baseDelayMs)) {
      throw invalidOption('mq', 'maxDelayMs', 'must be at least baseDelayMs, and both at least 0');
    }
    this.#maxAttempts = maxAttempts;
    this.#baseDelayMs = baseDelayMs;
    this.#maxDelayMs = maxDelayMs;
  }

  /** Checks and encodes every item; one bad item fails the whole call, before anything is sent. */
  #prepare(items: BatchItem<T>[]): Prepared[] {
    const problems: FieldError[] = [];
    const prepared: Prepared[] = [];
    // The send's trace: in the system attribute X-Ray and Lambda read, and, when the library traces, in a
    // message attribute too, which every SQS implementation keeps and any consumer can read.
    const trace = tracing.traceHeader();
    const traceAttribute = tracing.enabled ? trace : undefined;
    items.forEach((item, index) => {
      let body: unknown = item.body;
      // Checked before the schema: a schema recursing into a circular or very deep value overflows the stack.
      const shape = bodyShapeProblem(body);
      if (shape) {
        problems.push({ path: `[${index}].body`, message: shape, rule: 'json' });
        return;
      }
      if (this.#schema) {
        const parsed = this.#schema.safeParse(item.body);
        if (!parsed.success) {
          for (const field of classifyError(parsed.error, 'mq').fields) {
            problems.push({
              ...field,
              path: `[${index}].body${field.path === '(root)' ? '' : `.${field.path}`}`,
            });
          }
          return;
        }
        body = parsed.data;
      }
      const { json, problem } = encodeBody(body);
      if (problem !== undefined) {
        problems.push({ path: `[${index}].body`, message: problem, rule: 'json' });
        return;
      }
      if (this.fifo && !item.groupId) {
        problems.push({
          path: `[${index}].groupId`,
          message: 'is required on a FIFO queue',
          rule: 'required',
        });
        return;
      }
      const attributes: Record<string, MessageAttributeValue> = { ...correlationAttributes() };
      for (const [name, value] of Object.entries(item.attributes ?? {})) {
        attributes[name] =
          typeof value === 'number'
            ? { DataType: 'Number', StringValue: String(value) }
            : { DataType: 'String', StringValue: value };
      }
      const count = Object.keys(attributes).length;
      if (count > MAX_ATTRIBUTES) {
        problems.push({
          path: `[${index}].attributes`,
          message: `has ${count} message attributes, the correlation id's included; SQS takes at most ${MAX_ATTRIBUTES}`,
          rule: 'max_items',
        });
        return;
      }
      let bytes = Buffer.byteLength(json) + attributeBytes(attributes);
      if (bytes > MAX_MESSAGE_BYTES) {
        problems.push({
          path: `[${index}]`,
          message: `is ${bytes} bytes with its attributes; SQS takes at most ${MAX_MESSAGE_BYTES}`,
          rule: 'max_size',
        });
        return;
      }
      // The link is worth less than the caller's own slots and bytes: left off where it would not fit.
      if (traceAttribute && count < MAX_ATTRIBUTES && !(TRACE_ATTRIBUTE in attributes)) {
        const link = { [TRACE_ATTRIBUTE]: { DataType: 'String', StringValue: traceAttribute } };
        const linked = bytes + attributeBytes(link);
        if (linked <= MAX_MESSAGE_BYTES) {
          Object.assign(attributes, link);
          bytes = linked;
        }
      }
      prepared.push({
        index,
        bytes,
        entry: {
          Id: String(index),
          MessageBody: json,
          MessageAttributes: attributes,
          ...(trace
            ? { MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: trace } } }
            : {}),
          ...(item.groupId ? { MessageGroupId: item.groupId } : {}),
          ...(item.deduplicationId ? { MessageDeduplicationId: item.deduplicationId } : {}),
          ...(item.delaySeconds !== undefined ? { DelaySeconds: item.delaySeconds } : {}),
        },
      });
    });
    if (problems.length > 0) {
      throw new InfraError(
        `nothing was sent to ${this.#queueName}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
        { type: 'validation', component: 'mq', fields: problems },
      );
    }
    return prepared;
  }

  /** Groups entries into requests of at most 10 entries and MAX_BATCH_BYTES. */
  #chunks(prepared: Prepared[]): Prepared[][] {
    const chunks: Prepared[][] = [];
    let current: Prepared[] = [];
    let bytes = 0;
    for (const item of prepared) {
      if (current.length === MAX_BATCH_ENTRIES || bytes + item.bytes > MAX_BATCH_BYTES) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += item.bytes;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  #delay(attempt: number): number {
    return backoffDelay(attempt, { base: this.#baseDelayMs, max: this.#maxDelayMs, jitter: 'full' });
  }

  #send<R>(command: () => Promise<R>): Promise<R> {
    return this.breaker ? this.breaker.execute(command) : command();
  }

  /** Sends many bodies in as few requests as the limits allow; what could not be sent comes back with why. */
  publishBatch(items: BatchItem<T>[]): Promise<BatchResult> {
    return tracing.producer(this.#queueName, () => this.#publishBatch(items));
  }

  async #publishBatch(items: BatchItem<T>[]): Promise<BatchResult> {
    const result: BatchResult = { successful: [], failed: [], calls: 0 };
    for (const chunk of this.#chunks(this.#prepare(items))) {
      let pending = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const byId = new Map(pending.map((p) => [p.entry.Id!, p]));
        let retry: Prepared[] = [];
        try {
          result.calls++;
          const response = await this.#send(() =>
            this.#client.send(
              new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending.map((p) => p.entry) }),
            ),
          );
          for (const ok of response.Successful ?? []) {
            result.successful.push({
              index: byId.get(ok.Id!)!.index,
              messageId: ok.MessageId!,
              ...(ok.SequenceNumber ? { sequenceNumber: ok.SequenceNumber } : {}),
            });
          }
          for (const bad of response.Failed ?? []) {
            const item = byId.get(bad.Id!)!;
            // SenderFault: the entry itself is wrong, and sending it again cannot help.
            if (!bad.SenderFault && attempt + 1 < this.#maxAttempts) retry.push(item);
            else {
              result.failed.push({
                index: item.index,
                code: bad.Code ?? 'Unknown',
                message: bad.Message ?? '',
                retryable: !bad.SenderFault,
              });
            }
          }
        } catch (error) {
          const infra = classifyError(error, 'mq');
          if (infra.retryable && !(error instanceof BreakerOpenError) && attempt + 1 < this.#maxAttempts)
            retry = pending;
          else {
            for (const item of pending) {
              result.failed.push({
                index: item.index,
                code: infra.code ?? infra.type,
                message: infra.message,
                retryable: infra.retryable,
              });
            }
          }
        }
        pending = retry;
        if (pending.length > 0) await sleep(this.#delay(attempt));
      }
    }
    result.successful.sort((a, b) => a.index - b.index);
    result.failed.sort((a, b) => a.index - b.index);
    if (result.successful.length > 0)
      eventMetrics.published(result.successful.length, { queue: this.#queueName });
    return result;
  }

  /** Sends one body; fails with a classified InfraError (retryable or not) when it could not be sent. */
  publish(body: T, options: PublishOptions = {}): Promise<{ messageId: string; sequenceNumber?: string }> {
    return tracing.producer(this.#queueName, () => this.#publish(body, options));
  }

  async #publish(body: T, options: PublishOptions): Promise<{ messageId: string; sequenceNumber?: string }> {
    const [prepared] = this.#prepare([{ body, ...options }]);
    const { Id: _id, ...entry } = prepared!.entry;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.#send(() =>
          this.#client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, ...entry })),
        );
        eventMetrics.published(1, { queue: this.#queueName });
        return {
          messageId: response.MessageId!,
          ...(response.SequenceNumber ? { sequenceNumber: response.SequenceNumber } : {}),
        };
      } catch (error) {
        const infra = classifyError(error, 'mq');
        if (!infra.retryable || error instanceof BreakerOpenError || attempt + 1 >= this.#maxAttempts)
          throw infra;
        await sleep(this.#delay(attempt));
      }
    }
  }
}

export function createPublisher<T = unknown>(options: PublisherOptions<T>): Publisher<T> {
  return new Publisher(options);
}
