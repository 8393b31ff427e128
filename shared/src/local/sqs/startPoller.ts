import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { backoffDelay, classifyError } from '../../errors/index.ts';
import { logger } from '../../observability/logger.ts';

export interface PollerOptions {
  queueUrl: string;
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;
  client?: SQSClient;
  /** Records per invocation (the mapping's BatchSize), gathered 10 per ReceiveMessage call; default 10. */
  batchSize?: number;
  /** How long to gather a batch (the mapping's MaximumBatchingWindowInSeconds); default 0. */
  batchingWindowMs?: number;
  /** Visibility timeout of received messages; default: the queue's. */
  visibilityTimeoutSeconds?: number;
  functionName?: string;
  /**
   * The function's timeout: `getRemainingTimeInMillis` counts down from it, and an invocation still running at
   * its end is abandoned as Lambda would stop it (its batch is left to the visibility timeout). Default 30 s.
   */
  timeoutSeconds?: number;
  /** Longest wait of one ReceiveMessage call on an empty queue (long polling, 0-20 s); default 20. */
  waitTimeSeconds?: number;
  /**
   * Invocations at once (the mapping's ScalingConfig MaximumConcurrency): that many batches are received and
   * handled side by side. Default 1.
   */
  maxConcurrency?: number;
  /**
   * Whether the handler's `batchItemFailures` count (the mapping's FunctionResponseTypes has
   * ReportBatchItemFailures); without it, a handler that returns deletes the whole batch. Default true.
   */
  reportBatchItemFailures?: boolean;
}

export interface Poller {
  /** Invocations made so far. */
  readonly invocations: number;
  stop(): Promise<void>;
}

function toRecord(message: Message, arn: string, region: string): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
      ...(a.MessageDeduplicationId ? { MessageDeduplicationId: a.MessageDeduplicationId } : {}),
      ...(a.SequenceNumber ? { SequenceNumber: a.SequenceNumber } : {}),
      ...(a.AWSTraceHeader ? { AWSTraceHeader: a.AWSTraceHeader } : {}),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, v]) => [
        name,
        {
          dataType: v.DataType as 'String',
          ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: region,
  };
}

/**
 * Drives a handler from a queue as the Lambda SQS event source mapping does: batches of up to `batchSize`
 * gathered for up to `batchingWindowMs`, ReportBatchItemFailures (only the successes are deleted; a handler
 * that throws leaves the whole batch), and redelivery and dead-lettering by the queue's own visibility
 * timeout and redrive policy.
 */
export async function startPoller(options: PollerOptions): Promise<Poller> {
  const client = options.client ?? new SQSClient({});
  const batchSize = options.batchSize ?? 10;
  const timeoutMs = (options.timeoutSeconds ?? 30) * 1_000;
  const waitTimeSeconds = Math.min(20, Math.max(0, options.waitTimeSeconds ?? 20));
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: options.queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn ?? options.queueUrl;
  const region = arn.split(':')[3] ?? 'us-east-1';
  let running = true;
  let invocations = 0;
  // Aborts a long poll in flight, so that stop() does not wait out its 20 s.
  const stopping = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      // Each pause takes its listener off again: a queue down for long would otherwise pile them up.
      const timer = setTimeout(done, ms);
      stopping.signal.addEventListener('abort', done);
    });

  /** One batch: long polls until a message arrives, then gathers more for up to the batching window. */
  const receive = async (): Promise<Message[]> => {
    const messages: Message[] = [];
    let deadline = 0;
    while (running && messages.length < batchSize) {
      const remainingWindowMs = deadline - Date.now();
      if (messages.length > 0 && remainingWindowMs <= 0) break;
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, batchSize - messages.length),
          // Idle: wait for a message. Gathering: wait no longer than what is left of the window.
          WaitTimeSeconds:
            messages.length === 0 ? waitTimeSeconds : Math.min(20, Math.floor(remainingWindowMs / 1_000)),
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
          ...(options.visibilityTimeoutSeconds !== undefined
            ? { VisibilityTimeout: options.visibilityTimeoutSeconds }
            : {}),
        }),
        { abortSignal: stopping.signal },
      );
      if (messages.length === 0 && Messages.length > 0)
        deadline = Date.now() + (options.batchingWindowMs ?? 0);
      messages.push(...Messages);
      if (Messages.length === 0 && messages.length > 0)
        await pause(Math.min(100, Math.max(0, remainingWindowMs)));
    }
    return messages;
  };

  const invoke = async (messages: Message[]): Promise<Set<string> | undefined> => {
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn, region)) };
    invocations++;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([
        options.handler(event, {
          functionName: options.functionName ?? 'local',
          awsRequestId: `local-${invocations}`,
          getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
        } as Context),
        timedOut,
      ]);
      if (outcome === 'timeout') {
        logger.error('the function timed out; its batch is left to the visibility timeout', {
          functionName: options.functionName ?? 'local',
          timeoutSeconds: timeoutMs / 1_000,
          messages: messages.length,
        });
        return undefined;
      }
      if (options.reportBatchItemFailures === false) return new Set();
      return new Set((outcome?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      // As with Lambda: a function that throws leaves its whole batch to the visibility timeout.
      logger.error('the function failed; its batch is left to the visibility timeout', {
        functionName: options.functionName ?? 'local',
        error: classifyError(error, 'mq').toJSON(),
      });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };

  const poll = async () => {
    let failures = 0;
    while (running) {
      let messages: Message[];
      try {
        messages = await receive();
        failures = 0;
      } catch (error) {
        if (!running) break;
        // Logged and backed off, doubling up to 5 s, as the event source mapping does when it cannot poll.
        failures++;
        logger.warn('could not receive from the queue; polling again after a pause', {
          queueUrl: options.queueUrl,
          error: classifyError(error, 'mq').toJSON(),
        });
        await pause(backoffDelay(failures, { base: 100, max: 5_000, jitter: 'none' }));
        continue;
      }
      if (messages.length === 0) continue;
      const failed = await invoke(messages);
      if (!failed) continue;
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      for (let i = 0; i < done.length; i += 10) {
        await client
          .send(
            new DeleteMessageBatchCommand({
              QueueUrl: options.queueUrl,
              Entries: done
                .slice(i, i + 10)
                .map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
          .catch((error: unknown) =>
            logger.warn('could not delete handled messages; they will be delivered again', {
              queueUrl: options.queueUrl,
              error: classifyError(error, 'mq').toJSON(),
            }),
          );
      }
    }
  };
  const loop = Promise.all(Array.from({ length: Math.max(1, options.maxConcurrency ?? 1) }, poll));

  return {
    get invocations() {
      return invocations;
    },
    async stop() {
      running = false;
      stopping.abort();
      await loop;
    },
  };
}
