import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { classifyError } from '../errors/index.ts';
import { eventMetrics } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { queueUrlResolver } from './queues.ts';
import { DLQ_REASON_ATTRIBUTES } from './reasons.ts';

export interface DeadLetter {
  messageId: string;
  body: string;
  /** Why it is there, as the consumer recorded it; absent for messages the queue's redrive policy moved. */
  reason: {
    errorType?: string;
    errorMessage?: string;
    sourceQueue?: string;
    receiveCount?: number;
    failedAt?: string;
  };
  /** The message's own attributes, without the reasons. */
  attributes: Record<string, MessageAttributeValue>;
  sentAt: number;
  message: Message;
}

const REASON_NAMES = new Set<string>(Object.values(DLQ_REASON_ATTRIBUTES));

function toDeadLetter(message: Message): DeadLetter {
  const all = message.MessageAttributes ?? {};
  const value = (name: string) => all[name]?.StringValue;
  const count = value(DLQ_REASON_ATTRIBUTES.receiveCount);
  return {
    messageId: message.MessageId!,
    body: message.Body ?? '',
    reason: {
      ...(value(DLQ_REASON_ATTRIBUTES.errorType)
        ? { errorType: value(DLQ_REASON_ATTRIBUTES.errorType) }
        : {}),
      ...(value(DLQ_REASON_ATTRIBUTES.errorMessage)
        ? { errorMessage: value(DLQ_REASON_ATTRIBUTES.errorMessage) }
        : {}),
      ...(value(DLQ_REASON_ATTRIBUTES.sourceQueue)
        ? { sourceQueue: value(DLQ_REASON_ATTRIBUTES.sourceQueue) }
        : {}),
      ...(count ? { receiveCount: Number(count) } : {}),
      ...(value(DLQ_REASON_ATTRIBUTES.failedAt) ? { failedAt: value(DLQ_REASON_ATTRIBUTES.failedAt) } : {}),
    },
    attributes: Object.fromEntries(Object.entries(all).filter(([name]) => !REASON_NAMES.has(name))),
    sentAt: Number(message.Attributes?.SentTimestamp ?? 0),
    message,
  };
}

/** Receives up to `count` messages, hidden for `visibilitySeconds` so one pass does not see one twice. */
async function receive(client: SQSClient, queueUrl: string, count: number, visibilitySeconds: number) {
  const { Messages = [] } = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, count),
      VisibilityTimeout: visibilitySeconds,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages;
}

/** Makes messages visible again at once, so what was only looked at stays where it was. */
async function release(client: SQSClient, queueUrl: string, messages: Message[]) {
  for (let i = 0; i < messages.length; i += 10) {
    await client
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages
            .slice(i, i + 10)
            .map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      )
      .catch(() => undefined);
  }
}

/** Reads up to `max` dead letters with their reasons, and leaves them in the queue. */
export async function inspectDeadLetters(options: {
  queueUrl: string;
  max?: number;
  client?: SQSClient;
}): Promise<DeadLetter[]> {
  const client = options.client ?? new SQSClient({});
  const max = options.max ?? 10;
  const seen: Message[] = [];
  while (seen.length < max) {
    const batch = await receive(client, options.queueUrl, max - seen.length, 30);
    if (batch.length === 0) break;
    seen.push(...batch);
  }
  await release(client, options.queueUrl, seen);
  return seen.map(toDeadLetter);
}

export interface RedriveFilter {
  errorType?: string;
  /** A message attribute of the original message and its value. */
  attribute?: { name: string; value: string };
  /** Only messages sent at least this long ago. */
  olderThanMs?: number;
  predicate?: (letter: DeadLetter) => boolean;
}

export interface RedriveOptions {
  /** The dead-letter queue. */
  from: string;
  /** Default: the queue each message came from (its sourceQueue reason). */
  to?: string;
  filter?: RedriveFilter;
  /** At most this many messages are moved; default all. */
  max?: number;
  /** Messages moved per second at most; default 50. */
  ratePerSecond?: number;
  onProgress?: (progress: RedriveReport) => void;
  client?: SQSClient;
}

export interface RedriveReport {
  moved: number;
  skipped: number;
  failed: number;
}

function matches(letter: DeadLetter, filter: RedriveFilter | undefined, now: number): boolean {
  if (!filter) return true;
  if (filter.errorType && letter.reason.errorType !== filter.errorType) return false;
  if (filter.attribute && letter.attributes[filter.attribute.name]?.StringValue !== filter.attribute.value)
    return false;
  if (filter.olderThanMs !== undefined && now - letter.sentAt < filter.olderThanMs) return false;
  if (filter.predicate && !filter.predicate(letter)) return false;
  return true;
}

/**
 * What a send to a FIFO queue needs: the message's own group, and a deduplication id of the dead letter's own.
 * SQS drops, without an error, a send whose deduplication id (explicit, or the body's hash under content-based
 * deduplication) it saw in the last 5 minutes: the original's would make a redrive within that window vanish.
 * The dead letter's message id is new to the source queue, and the same for a second try at the same move.
 */
function fifoFields(target: string, message: Message) {
  if (!target.endsWith('.fifo')) return {};
  const group = message.Attributes?.MessageGroupId;
  if (!group) throw new Error('the target is a FIFO queue and the message has no message group id');
  return { MessageGroupId: group, MessageDeduplicationId: `redrive-${message.MessageId}` };
}

/**
 * Moves matching dead letters back to their source queue, with their own attributes, deleting each from the
 * dead-letter queue only after it was sent. What does not match, or could not be sent, stays.
 */
export async function redrive(options: RedriveOptions): Promise<RedriveReport> {
  const client = options.client ?? new SQSClient({});
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const minGapMs = 1_000 / (options.ratePerSecond ?? 50);
  const report: RedriveReport = { moved: 0, skipped: 0, failed: 0 };
  const sourceUrl = queueUrlResolver(client);
  const held: Message[] = [];
  let lastSend = 0;
  while (report.moved < max) {
    const batch = await receive(client, options.from, 10, 60);
    if (batch.length === 0) break;
    for (const message of batch) {
      const letter = toDeadLetter(message);
      if (report.moved >= max || !matches(letter, options.filter, Date.now())) {
        report.skipped++;
        held.push(message);
        continue;
      }
      try {
        const target =
          options.to ?? (letter.reason.sourceQueue ? await sourceUrl(letter.reason.sourceQueue) : undefined);
        if (!target) throw new Error('no target queue: the message names no source queue; give `to`');
        const wait = lastSend + minGapMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        lastSend = Date.now();
        await client.send(
          new SendMessageCommand({
            QueueUrl: target,
            MessageBody: letter.body,
            MessageAttributes: letter.attributes,
            ...fifoFields(target, message),
          }),
        );
        await client.send(
          new DeleteMessageCommand({ QueueUrl: options.from, ReceiptHandle: message.ReceiptHandle! }),
        );
        report.moved++;
      } catch (error) {
        report.failed++;
        held.push(message);
        logger.warn('could not move a dead letter back; it stays', {
          messageId: letter.messageId,
          error: classifyError(error, 'mq').toJSON(),
        });
      }
      options.onProgress?.({ ...report });
    }
  }
  await release(client, options.from, held);
  if (report.moved > 0) eventMetrics.reprocessed(report.moved);
  return report;
}

/**
 * Starts SQS's own move of every message of a dead-letter queue back to its source (StartMessageMoveTask),
 * where the endpoint supports it. Returns the task handle.
 */
export async function startNativeRedrive(options: {
  from: string;
  maxPerSecond?: number;
  client?: SQSClient;
}): Promise<string> {
  const client = options.client ?? new SQSClient({});
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: options.from, AttributeNames: ['QueueArn'] }),
  );
  const { TaskHandle } = await client.send(
    new StartMessageMoveTaskCommand({
      SourceArn: Attributes!.QueueArn!,
      ...(options.maxPerSecond ? { MaxNumberOfMessagesPerSecond: options.maxPerSecond } : {}),
    }),
  );
  return TaskHandle ?? '';
}

/** Deletes every message of the queue. The CLI asks first. */
export async function purgeDeadLetters(options: { queueUrl: string; client?: SQSClient }): Promise<void> {
  const client = options.client ?? new SQSClient({});
  await client.send(new PurgeQueueCommand({ QueueUrl: options.queueUrl }));
}
