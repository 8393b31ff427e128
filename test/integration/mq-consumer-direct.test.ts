// The consumer invoked directly with SQS events, as Lambda invokes it: idempotency on the real Redis, FIFO groups.
import { createCache } from '@lambda-infra/shared/cache';
import { InfraError } from '@lambda-infra/shared/errors';
import { createSqsHandler } from '@lambda-infra/shared/mq';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureConsole, type Emitted } from '../support/console.ts';
import { lambdaContext } from '../support/events.ts';
import { useRedisNamespace } from '../support/redis.ts';

const redis = useRedisNamespace();
let emitted: Emitted;

function record(messageId: string, body: unknown, receiveCount = 1): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}-${receiveCount}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '1795300000000',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '1795300000000',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:orders',
    awsRegion: 'us-east-1',
  };
}

const event = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

beforeEach(() => {
  emitted = captureConsole();
});

afterEach(() => emitted.restore());

describe('idempotency on the cache (real Redis)', () => {
  it('produces the side effect of a message delivered twice once', async () => {
    const cache = createCache({ url: redis.url, namespace: redis.namespace });
    const effects: string[] = [];
    const handler = createSqsHandler<{ order: number }>({
      idempotency: { cache },
      handle: ({ body, record: r }) => {
        effects.push(`${r.messageId}:${body.order}`);
      },
    });

    const first = await handler(event(record('m-1', { order: 1 })), lambdaContext('events-worker'));
    const again = await handler(event(record('m-1', { order: 1 }, 2)), lambdaContext('events-worker'));
    const other = await handler(event(record('m-2', { order: 1 })), lambdaContext('events-worker'));

    expect(effects).toEqual(['m-1:1', 'm-2:1']);
    expect([first, again, other]).toEqual([
      { batchItemFailures: [] },
      { batchItemFailures: [] },
      { batchItemFailures: [] },
    ]);
    await cache.close();
  });

  it('keys by what the user picks: two messages for one order take effect once', async () => {
    const cache = createCache({ url: redis.url, namespace: redis.namespace });
    let effects = 0;
    const handler = createSqsHandler<{ orderId: string }>({
      idempotency: { cache, key: ({ body }) => body.orderId },
      handle: () => {
        effects++;
      },
    });

    await handler(event(record('a', { orderId: 'o-9' }), record('b', { orderId: 'o-9' })), lambdaContext());
    await handler(event(record('c', { orderId: 'o-10' })), lambdaContext());

    expect(effects).toBe(2);
    await cache.close();
  });
});

describe('FIFO batches', () => {
  it('stop a message group at its first failure and go on with the other groups', async () => {
    const handled: string[] = [];
    const handler = createSqsHandler<{ id: string }>({
      handle: ({ body }) => {
        if (body.id === 'a1') throw new InfraError('db down', { type: 'connection', component: 'db' });
        handled.push(body.id);
      },
    });
    const fifo = (id: string, group: string): SQSRecord => ({
      ...record(id, { id }),
      attributes: { ...record(id, { id }).attributes, MessageGroupId: group, MessageDeduplicationId: id },
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:orders.fifo',
    });

    const response = await handler(
      event(fifo('a1', 'A'), fifo('b1', 'B'), fifo('a2', 'A'), fifo('b2', 'B'), fifo('a3', 'A')),
      lambdaContext(),
    );

    expect(handled).toEqual(['b1', 'b2']);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['a1', 'a2', 'a3']);
  });
});
