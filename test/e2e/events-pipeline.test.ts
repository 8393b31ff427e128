// The events pipeline end to end on real servers: the SSM endpoint, the SQS emulator, redis-server and
// PostgreSQL. events-api runs in this process and is called with HTTP API v2 events; events-worker runs in a
// process of its own, driven by the local poller as the event source mapping drives it.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { sql } from '@lambda-infra/shared/db';
import { DLQ_REASON_ATTRIBUTES } from '@lambda-infra/shared/mq';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { captureConsole } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { useEventsPipeline } from '../support/pipeline.ts';
import { queueDepth, until } from '../support/sqs.ts';

const ENV = `e2e-${process.pid}`;
const pipeline = useEventsPipeline(ENV);
const { sqs } = pipeline;
const redis = createClient({ url: inject('redisUrl') });

beforeAll(() => redis.connect());
afterAll(() => redis.quit());

const call = async (options: Parameters<typeof httpEvent>[0] & { query?: Record<string, string> }) => {
  const event = httpEvent(options);
  if (options.query) event.queryStringParameters = options.query;
  const response = await pipeline.api.handler(event, lambdaContext('events-api'));
  return { ...response, json: response.body ? JSON.parse(response.body) : undefined };
};

const storedRows = async (id: string) =>
  (
    await sql<{
      id: string;
      correlation_id: string | null;
    }>`select id, correlation_id from events where id = ${id}`.execute(pipeline.db.kysely)
  ).rows;
const hourlyCount = async (type: string) =>
  Number(
    (
      await sql<{
        n: string;
      }>`select coalesce(sum(count), 0) as n from event_counts_hourly where type = ${type}`.execute(
        pipeline.db.kysely,
      )
    ).rows[0]!.n,
  );
const drained = async () => (await queueDepth(sqs, pipeline.queues.source)) === 0;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve('shared/bin/lambda-infra.ts'), ...args],
      { env: { ...process.env, AWS_ENDPOINT_URL_SQS: inject('sqsEndpointUrl') } },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the events pipeline', () => {
  it('takes an event, stores it with its correlation id, and serves it from the cache the worker filled', async () => {
    const type = `e2e.placed-${randomUUID().slice(0, 6)}`;

    const posted = await call({
      body: { type, source: 'shop', payload: { total: 12 } },
      headers: { 'x-correlation-id': 'e2e-corr-1' },
    });

    expect(posted.statusCode).toBe(202);
    expect(posted.headers?.['x-correlation-id']).toBe('e2e-corr-1');
    const { id } = posted.json as { id: string };
    await until(async () => (await storedRows(id)).length === 1);
    expect(await storedRows(id)).toEqual([{ id, correlation_id: 'e2e-corr-1' }]);
    await until(async () => (await redis.exists(`${ENV}:events:event:${id}`)) === 1);

    const first = await call({ method: 'GET', path: `/events/${id}` });
    // Gone from the database, the event is still served: the read is the cache's.
    await sql`delete from events where id = ${id}`.execute(pipeline.db.kysely);
    const second = await call({ method: 'GET', path: `/events/${id}` });

    expect(first.statusCode).toBe(200);
    expect(first.json).toMatchObject({
      id,
      type,
      source: 'shop',
      payload: { total: 12 },
      correlationId: 'e2e-corr-1',
    });
    expect(second.json).toEqual(first.json);
  });

  it('counts an event once in the stats even when the queue delivers it twice', async () => {
    const type = `e2e.twice-${randomUUID().slice(0, 6)}`;
    const posted = await call({ body: { type, source: 'shop', payload: {} } });
    const { id } = posted.json as { id: string };
    await until(async () => (await storedRows(id)).length === 1);

    // The same message again, as SQS may deliver it: at-least-once.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: pipeline.queues.source,
        MessageBody: JSON.stringify({ id, type, source: 'shop', payload: {} }),
      }),
    );
    await until(drained);
    const stats = await call({ method: 'GET', path: '/events/stats', query: { type } });

    expect(stats.statusCode).toBe(200);
    expect(stats.json).toMatchObject({ type, total: 1, hours: [{ type, count: 1 }] });
    expect(await hourlyCount(type)).toBe(1);
  });

  it('dead-letters a poison event with its reason, and stores it once after the fix and a redrive', async () => {
    const type = `e2e.poison-${randomUUID().slice(0, 6)}`;
    // The cause: a rule of the database that refuses this event, as a bad migration would.
    await sql
      .raw(`alter table events add constraint e2e_poison check (type <> '${type}')`)
      .execute(pipeline.db.kysely);

    const posted = await call({ body: { type, source: 'shop', payload: { n: 1 } } });
    const { id } = posted.json as { id: string };
    await until(async () => (await queueDepth(sqs, pipeline.queues.dlq)) === 1);
    // Looked at, and left visible for the CLI to move.
    const { Messages: [dead] = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: pipeline.queues.dlq,
        MessageAttributeNames: ['All'],
        VisibilityTimeout: 0,
      }),
    );
    const reason = dead!.MessageAttributes ?? {};

    expect(JSON.parse(dead!.Body!)).toMatchObject({ id, type });
    expect(reason[DLQ_REASON_ATTRIBUTES.errorType]?.StringValue).toBe('validation');
    expect(reason[DLQ_REASON_ATTRIBUTES.errorMessage]?.StringValue).toContain('e2e_poison');
    expect(await storedRows(id)).toEqual([]);

    await sql`alter table events drop constraint e2e_poison`.execute(pipeline.db.kysely);
    const moved = await cli('dlq', 'redrive', '--queue', pipeline.queues.dlq, '--to', pipeline.queues.source);

    expect(moved.code, moved.stderr).toBe(0);
    await until(async () => (await storedRows(id)).length === 1, 45_000);
    await until(drained);
    expect(await storedRows(id)).toHaveLength(1);
    expect(await hourlyCount(type)).toBe(1);
    expect(await queueDepth(sqs, pipeline.queues.dlq)).toBe(0);
  }, 60_000);

  it('answers a retried POST with the same Idempotency-Key with the same id, publishing once', async () => {
    const emitted = captureConsole();
    const type = `e2e.keyed-${randomUUID().slice(0, 6)}`;
    const body = { type, source: 'shop', payload: { n: 1 } };
    const key = `order-${randomUUID()}`;
    let responses: Awaited<ReturnType<typeof call>>[];
    let other: Awaited<ReturnType<typeof call>>;
    let published: { value: unknown }[];
    try {
      responses = [
        await call({ body, headers: { 'idempotency-key': key } }),
        await call({ body, headers: { 'idempotency-key': key } }),
      ];
      other = await call({ body: { ...body, payload: { n: 2 } }, headers: { 'idempotency-key': key } });
      published = emitted.metrics().filter((m) => m.name === 'EventsPublished');
    } finally {
      emitted.restore();
    }

    expect(responses.map((r) => r.statusCode)).toEqual([202, 202]);
    expect(responses[1]!.json).toEqual(responses[0]!.json);
    expect(published.reduce((n, m) => n + Number(m.value), 0)).toBe(1);
    expect(other.statusCode).toBe(422);
    const { id } = responses[0]!.json as { id: string };
    await until(async () => (await storedRows(id)).length === 1);
    await until(drained);
    expect(await hourlyCount(type)).toBe(1);
  });

  it('remembers an unknown id briefly, so repeated reads of it do not reach the database', async () => {
    const id = randomUUID();

    const first = await call({ method: 'GET', path: `/events/${id}` });
    await sql`insert into events (id, type, source, payload) values (${id}, 'e2e.late', 'shop', '{}')`.execute(
      pipeline.db.kysely,
    );
    const second = await call({ method: 'GET', path: `/events/${id}` });

    expect(first.statusCode).toBe(404);
    expect(second.statusCode).toBe(404);
    expect(await redis.ttl(`${ENV}:events:event:${id}`)).toBeGreaterThan(0);
    expect(await redis.ttl(`${ENV}:events:event:${id}`)).toBeLessThanOrEqual(5);
  });

  it('takes a batch entry by entry: the valid ones are stored, each bad one answered with its reason', async () => {
    const type = `e2e.batch-${randomUUID().slice(0, 6)}`;
    const events = [
      { type, source: 'shop', payload: { n: 1 } },
      { type: 'has space', source: 'shop', payload: {} },
      { type, source: 'shop', payload: { n: 3 } },
    ];

    const response = await call({ path: '/events/batch', body: { events } });

    expect(response.statusCode).toBe(207);
    const { results } = response.json as {
      results: { index: number; status: string; id?: string; errors?: { path: string }[] }[];
    };
    expect(results.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(results[1]!.errors![0]!.path).toBe('events[1].type');
    await until(async () => (await hourlyCount(type)) === 2);
    await until(drained);
    expect(await hourlyCount(type)).toBe(2);
  });

  it('reports each dependency in /health, the queue with its depth and its dead letters', async () => {
    const response = await call({ method: 'GET', path: '/health' });

    expect(response.statusCode).toBe(200);
    const report = response.json as {
      status: string;
      components: { name: string; status: string; message?: string }[];
    };
    expect(report.components.map((c) => c.name)).toEqual(['config', 'cache', 'db', 'queue', 'breakers']);
    expect(report.components.find((c) => c.name === 'queue')?.message).toMatch(/visible.*dead letters: \d+/);
    for (const c of report.components) expect(c.status, `${c.name}: ${c.message}`).toBe('healthy');
  });
});
