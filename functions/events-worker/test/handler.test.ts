import { randomUUID } from 'node:crypto';
import { createDb, Migrations, migrationsFromFolder, sql } from '@lambda-infra/shared/db';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lambdaContext } from '../../../test/support/events.ts';
import { useTestDatabase } from '../../../test/support/postgres.ts';

const database = useTestDatabase();

function sqsEvent(bodies: unknown[]): SQSEvent {
  return {
    Records: bodies.map((body) => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body: JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:events',
      awsRegion: 'us-east-1',
    })),
  };
}

const saved = { ...process.env };
beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SSM: inject('ssmEndpointUrl'),
    LAMBDA_INFRA_ENV: `test-${process.pid}`,
    LAMBDA_INFRA_SERVICE: 'events-worker',
    LAMBDA_INFRA_DB_HOST: database.options.host,
    LAMBDA_INFRA_DB_PORT: String(database.options.port),
    LAMBDA_INFRA_DB_NAME: database.name,
    LAMBDA_INFRA_DB_USER: database.options.user,
  });
  const db = createDb(database.options);
  await new Migrations(db, migrationsFromFolder('functions/db-migrate/migrations')).up();
  await db.close();
});
afterAll(() => {
  process.env = saved;
});

describe('events-worker', () => {
  it('stores each event once by id and counts it in its hour, even when SQS delivers it twice', async () => {
    const { handler } = await import('../src/handler.ts');
    const event = {
      id: randomUUID(),
      type: 'order.placed',
      source: 'shop',
      payload: { total: 12 },
      correlationId: 'c-1',
    };
    const other = { ...event, id: randomUUID() };

    const first = await handler(sqsEvent([event, other]), lambdaContext('events-worker'));
    const again = await handler(sqsEvent([event]), lambdaContext('events-worker'));

    expect(first).toEqual({ batchItemFailures: [] });
    expect(again).toEqual({ batchItemFailures: [] });
    const db = createDb(database.options);
    try {
      const stored = await sql<{ id: string; correlation_id: string; payload: unknown }>`
        select id, correlation_id, payload from events order by id`.execute(db.kysely);
      expect(stored.rows).toHaveLength(2);
      expect(stored.rows.find((r) => r.id === event.id)).toMatchObject({
        correlation_id: 'c-1',
        payload: { total: 12 },
      });
      const counts = await sql<{
        count: string;
      }>`select count from event_counts_hourly where type = 'order.placed'`.execute(db.kysely);
      expect(counts.rows).toEqual([{ count: '2' }]);
    } finally {
      await db.close();
    }
  });
});
