import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { BreakerOpenError, consecutive, createBreaker } from '@lambda-infra/shared/breaker';
import { InfraError } from '@lambda-infra/shared/errors';
import { startPoller } from '@lambda-infra/shared/local/sqs';
import { createPublisher, createSqsHandler } from '@lambda-infra/shared/mq';
import { setCorrelationId } from '@lambda-infra/shared/observability';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { failure } from '../support/aws.ts';
import { captureConsole } from '../support/console.ts';

const endpoint = inject('sqsEndpointUrl');
const queues: string[] = [];

/** An SQS client for fauxqs that counts the calls of each command it sends. */
function counted() {
  // No SDK retries, as in the publisher's own client: its retries are per entry.
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
  const calls = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.set(context.commandName!, (calls.get(context.commandName!) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, calls: (name: string) => calls.get(name) ?? 0 };
}

async function queue(client: SQSClient, fifo = false): Promise<string> {
  const name = `lambda-infra-test-${randomUUID().slice(0, 8)}${fifo ? '.fifo' : ''}`;
  const { QueueUrl } = await client.send(
    new CreateQueueCommand({ QueueName: name, ...(fifo ? { Attributes: { FifoQueue: 'true' } } : {}) }),
  );
  queues.push(QueueUrl!);
  return QueueUrl!;
}

async function receiveAll(client: SQSClient, url: string, expected: number): Promise<Message[]> {
  const messages: Message[] = [];
  for (let empty = 0; messages.length < expected && empty < 3; ) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (Messages.length === 0) empty++;
    messages.push(...Messages);
  }
  return messages;
}

afterEach(async () => {
  const { client } = counted();
  await Promise.all(queues.splice(0).map((QueueUrl) => client.send(new DeleteQueueCommand({ QueueUrl }))));
  setCorrelationId(undefined);
});

describe('createPublisher', () => {
  it('sends 1,000 messages in at most 100 SendMessageBatch calls, each received and handled exactly once', async () => {
    const emitted = captureConsole();
    const sqs = counted();
    const url = await queue(sqs.client);
    const publisher = createPublisher({ queueUrl: url, client: sqs.client });
    const handled = new Map<number, number>();

    const result = await publisher.publishBatch(
      Array.from({ length: 1_000 }, (_, i) => ({ body: { n: i } })),
    );
    const poller = await startPoller({
      queueUrl: url,
      client: sqs.client,
      handler: createSqsHandler<{ n: number }>({
        client: sqs.client,
        handle: ({ body }) => {
          handled.set(body.n, (handled.get(body.n) ?? 0) + 1);
        },
      }),
    });
    for (let i = 0; i < 400 && handled.size < 1_000; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 300));
    await poller.stop();
    const leftOver = await receiveAll(sqs.client, url, 1);
    emitted.restore();

    expect(result.failed).toEqual([]);
    expect(result.successful).toHaveLength(1_000);
    expect(sqs.calls('SendMessageBatchCommand')).toBeLessThanOrEqual(100);
    expect(handled.size).toBe(1_000);
    expect([...handled.values()].every((count) => count === 1)).toBe(true);
    expect(leftOver).toEqual([]);
  });

  it('splits batches by size as well as by count, keeping each request within 1 MiB', async () => {
    const sqs = counted();
    const url = await queue(sqs.client);
    const publisher = createPublisher({ queueUrl: url, client: sqs.client });
    const big = 'x'.repeat(200_000);

    const result = await publisher.publishBatch(Array.from({ length: 10 }, (_, i) => ({ body: { i, big } })));

    expect(result.successful).toHaveLength(10);
    expect(result.calls).toBe(2);
  });

  it('refuses the whole batch before sending anything when a body fails its schema or is too large', async () => {
    const sqs = counted();
    const url = await queue(sqs.client);
    const publisher = createPublisher({
      queueUrl: url,
      client: sqs.client,
      schema: z.object({ type: z.string().min(1), payload: z.unknown() }),
    });

    const invalid = (await failure(
      publisher.publishBatch([{ body: { type: 'ok', payload: 1 } }, { body: { type: '', payload: 2 } }]),
    )) as InfraError;
    const tooLarge = (await failure(
      publisher.publishBatch([{ body: { type: 'big', payload: 'x'.repeat(1_048_576) } }]),
    )) as InfraError;

    expect(invalid).toMatchObject({ type: 'validation', component: 'mq' });
    expect(invalid.fields).toEqual([expect.objectContaining({ path: '[1].body.type', rule: 'too_small' })]);
    expect(tooLarge.fields[0]).toMatchObject({ path: '[0]', rule: 'max_size' });
    expect(tooLarge.message).toMatch(/SQS takes at most 1048576/);
    expect(sqs.calls('SendMessageBatchCommand')).toBe(0);
  });

  it('carries the correlation id and the given attributes on every message', async () => {
    const sqs = counted();
    const url = await queue(sqs.client);
    const publisher = createPublisher({ queueUrl: url, client: sqs.client });
    setCorrelationId('corr-77');

    await publisher.publish({ hello: 'world' }, { attributes: { eventType: 'greeting', version: 2 } });
    const [message] = await receiveAll(sqs.client, url, 1);

    expect(message?.MessageAttributes).toMatchObject({
      correlationId: { DataType: 'String', StringValue: 'corr-77' },
      eventType: { DataType: 'String', StringValue: 'greeting' },
      version: { DataType: 'Number', StringValue: '2' },
    });
  });

  it('needs a group id on a FIFO queue, and returns sequence numbers', async () => {
    const sqs = counted();
    const url = await queue(sqs.client, true);
    const publisher = createPublisher({ queueUrl: url, client: sqs.client });

    const missing = (await failure(
      publisher.publishBatch([{ body: 1, deduplicationId: 'd1' }]),
    )) as InfraError;
    const sent = await publisher.publishBatch([
      { body: 1, groupId: 'order-1', deduplicationId: 'd1' },
      { body: 2, groupId: 'order-1', deduplicationId: 'd2' },
    ]);

    expect(missing.fields[0]).toMatchObject({ path: '[0].groupId', rule: 'required' });
    expect(sent.successful.every((s) => typeof s.sequenceNumber === 'string')).toBe(true);
  });

  it('retries a throttled request with backoff and sends everything', async () => {
    const sqs = counted();
    const url = await queue(sqs.client);
    let throttled = 0;
    sqs.client.middlewareStack.add(
      (next) => async (args) => {
        if (throttled++ === 0) {
          throw new SQSServiceException({
            name: 'ThrottlingException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
            message: 'Rate exceeded',
          });
        }
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    const publisher = createPublisher({ queueUrl: url, client: sqs.client, baseDelayMs: 5 });

    const result = await publisher.publishBatch(Array.from({ length: 5 }, (_, i) => ({ body: i })));

    expect(result.calls).toBe(2);
    expect(result.successful).toHaveLength(5);
    expect(result.failed).toEqual([]);
  });

  it('fails with a retryable InfraError while SQS is unreachable, and its breaker opens', async () => {
    const unreachable = new SQSClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    const breaker = createBreaker({ name: 'sqs:orders', strategy: consecutive(3), openMs: 60_000 });
    const publisher = createPublisher({
      queueUrl: 'http://127.0.0.1:9/000000000000/orders',
      client: unreachable,
      breaker,
      maxAttempts: 3,
      baseDelayMs: 1,
    });

    const error = await failure(publisher.publish({ n: 1 }));
    const refused = await failure(publisher.publish({ n: 2 }));
    const batch = await publisher.publishBatch([{ body: 3 }]);

    expect(error).toBeInstanceOf(InfraError);
    expect(error).toMatchObject({ type: 'connection', retryable: true, code: 'ECONNREFUSED' });
    expect(breaker.state).toBe('open');
    expect(refused).toBeInstanceOf(BreakerOpenError);
    expect(batch.failed).toEqual([
      expect.objectContaining({ index: 0, code: 'CIRCUIT_OPEN', retryable: true }),
    ]);
    unreachable.destroy();
  });
});
