import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface PollerOptions {
  queueUrl: string;
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;
  client?: SQSClient;
  /** Records per invocation, 1-10; default 10. */
  batchSize?: number;
  /** How long to gather a batch (the mapping's MaximumBatchingWindowInSeconds); default 0. */
  batchingWindowMs?: number;
  /** Visibility timeout of received messages; default: the queue's. */
  visibilityTimeoutSeconds?: number;
  functionName?: string;
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
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: options.queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn ?? options.queueUrl;
  const region = arn.split(':')[3] ?? 'us-east-1';
  let running = true;
  let invocations = 0;

  const receive = async (): Promise<Message[]> => {
    const messages: Message[] = [];
    const deadline = Date.now() + (options.batchingWindowMs ?? 0);
    do {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: batchSize - messages.length,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
          ...(options.visibilityTimeoutSeconds !== undefined
            ? { VisibilityTimeout: options.visibilityTimeoutSeconds }
            : {}),
        }),
      );
      messages.push(...Messages);
      if (messages.length === 0 || Messages.length === 0) await new Promise((r) => setTimeout(r, 20));
    } while (running && messages.length < batchSize && Date.now() < deadline);
    return messages;
  };

  const loop = (async () => {
    while (running) {
      const messages = await receive().catch(() => [] as Message[]);
      if (messages.length === 0) continue;
      const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn, region)) };
      invocations++;
      let failed: Set<string>;
      try {
        const response = await options.handler(event, {
          functionName: options.functionName ?? 'local',
          awsRequestId: `local-${invocations}`,
          getRemainingTimeInMillis: () => 30_000,
        } as Context);
        failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch {
        continue; // the whole batch becomes visible again after its visibility timeout
      }
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
          .catch(() => undefined);
      }
    }
  })();

  return {
    get invocations() {
      return invocations;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
