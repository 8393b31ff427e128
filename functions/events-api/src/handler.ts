import { randomUUID } from 'node:crypto';
import {
  type Event,
  type EventInput,
  eventInputSchema,
  STORED_EVENT_TTL_SECONDS,
  type StoredEvent,
  storedEventKey,
  toStoredEvent,
} from '@lambda-infra/db-migrate/events';
import { breakerHealthCheck } from '@lambda-infra/shared/breaker';
import { configFreshnessCheck, readBinding, readOptionalBinding } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import {
  badRequest,
  callerOf,
  createHttpHandler,
  type HttpRequest,
  IDEMPOTENCY_STORE_UNREACHABLE,
  idempotencyKeyOf,
  idempotentByKey,
  lazy,
  RequestRejected,
  uuidFromKey,
} from '@lambda-infra/shared/handler';
import { createHealth, deferredCheck } from '@lambda-infra/shared/health';
import { queueHealthCheck } from '@lambda-infra/shared/mq';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import {
  type ApiConfig,
  api,
  apiConfigSchema,
  breakersInUse,
  cache,
  cacheCheck,
  db,
  dbBreaker,
  dbCheck,
  publisher,
} from './clients.ts';
import { eventsApiRoutes as paths } from './routes.ts';

export { eventsApiRoutes } from './routes.ts';
export { apiConfigSchema };

/** Most events one `POST /events/batch` takes. */
export const MAX_BATCH_EVENTS = 100;
/** Widest range `GET /events/stats` answers: 31 days of hours. */
const MAX_STATS_HOURS = 31 * 24;
const HOUR_MS = 3_600_000;

const health = createHealth([
  configFreshnessCheck(),
  deferredCheck('cache', { critical: false, timeoutMs: 1_000 }, cacheCheck),
  deferredCheck('db', { critical: true, timeoutMs: 2_000 }, dbCheck),
  deferredCheck('queue', { critical: true, timeoutMs: 2_000 }, async () =>
    queueHealthCheck({
      queueUrl: readBinding('queueUrl'),
      ...(readOptionalBinding('deadLetterQueueUrl')
        ? { deadLetterQueueUrl: readOptionalBinding('deadLetterQueueUrl')! }
        : {}),
    }),
  ),
  deferredCheck('breakers', { critical: false }, async () => {
    const inUse = await breakersInUse();
    return breakerHealthCheck(() => inUse);
  }),
]);

/** Sends one event; FIFO queues group by source and deduplicate by id. */
async function publishOne(event: Event): Promise<void> {
  const sends = await publisher();
  await sends.publish(event, sends.fifo ? { groupId: event.source, deduplicationId: event.id } : {});
}

/** Publishes once per caller and Idempotency-Key: a retried request answers the first one's id, unsent. */
const keyedPublish = lazy(async () => {
  const shared = await cache();
  if (!shared) return undefined;
  const { idempotencyTtlSeconds } = await api.get();
  return idempotentByKey(
    async (event: Event) => {
      await publishOne(event);
      return { id: event.id };
    },
    { name: 'events-api', cache: shared, expiresAfterSeconds: idempotencyTtlSeconds },
  );
});

/** POST /events: one event, published once per Idempotency-Key. */
async function acceptEvent(request: HttpRequest<EventInput>, lambda: Context): Promise<{ id: string }> {
  const input = request.body;
  const key = idempotencyKeyOf(request as HttpRequest<unknown>);
  if (key === undefined) {
    const event = { ...input, id: input.id ?? randomUUID() };
    await publishOne(event);
    return { id: event.id };
  }
  const caller = callerOf(request as HttpRequest<unknown>);
  // The id follows from the key, so that even a replay the records miss names the same event, stored once.
  const event = { ...input, id: input.id ?? uuidFromKey(caller, key) };
  const once = await keyedPublish().catch(() => undefined);
  if (once) {
    try {
      return await once({ caller, key, input: event, lambda });
    } catch (error) {
      // Its records unreachable: the event is sent anyway under the id the key gives, which the worker stores once.
      if ((error as Error).name !== IDEMPOTENCY_STORE_UNREACHABLE) throw error;
    }
  }
  await publishOne(event);
  return { id: event.id };
}

const batchSchema = z.strictObject({ events: z.array(z.unknown()).min(1).max(MAX_BATCH_EVENTS) });

type BatchEntry =
  | { index: number; status: 'accepted'; id: string }
  | { index: number; status: 'rejected'; errors: { path: string; message: string; rule?: string }[] }
  | { index: number; status: 'failed'; retryable: boolean; message: string };

/** POST /events/batch: each entry checked on its own; the valid ones sent in as few calls as SQS allows. */
async function acceptBatch(entries: unknown[], config: ApiConfig) {
  const results: BatchEntry[] = [];
  const valid: { index: number; event: Event }[] = [];
  entries.forEach((entry, index) => {
    const parsed = eventInputSchema.safeParse(entry);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((issue) => ({
        path: [`events[${index}]`, ...issue.path.map(String)].join('.'),
        message: issue.message,
        rule: issue.code,
      }));
      results.push({ index, status: 'rejected', errors });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(parsed.data));
    if (bytes > config.maxPayloadBytes) {
      results.push({
        index,
        status: 'rejected',
        errors: [
          {
            path: `events[${index}]`,
            message: `is ${bytes} bytes; at most ${config.maxPayloadBytes}`,
            rule: 'max_size',
          },
        ],
      });
      return;
    }
    valid.push({ index, event: { ...parsed.data, id: parsed.data.id ?? randomUUID() } });
  });
  if (valid.length > 0) {
    const sends = await publisher();
    const sent = await sends.publishBatch(
      valid.map(({ event }) => ({
        body: event,
        ...(sends.fifo ? { groupId: event.source, deduplicationId: event.id } : {}),
      })),
    );
    for (const ok of sent.successful) {
      const { index, event } = valid[ok.index]!;
      results.push({ index, status: 'accepted', id: event.id });
    }
    for (const bad of sent.failed) {
      results.push({
        index: valid[bad.index]!.index,
        status: 'failed',
        retryable: bad.retryable,
        message: bad.message,
      });
    }
  }
  results.sort((a, b) => a.index - b.index);
  const accepted = results.filter((r) => r.status === 'accepted').length;
  const failed = results.filter((r): r is Extract<BatchEntry, { status: 'failed' }> => r.status === 'failed');
  // Nothing went through and only the queue is to blame: the client retries the whole batch later.
  if (
    accepted === 0 &&
    failed.length > 0 &&
    failed.length === valid.length &&
    failed.every((f) => f.retryable)
  ) {
    throw new InfraError(`no event of the batch could be sent: ${failed[0]!.message}`, {
      type: 'connection',
      component: 'mq',
    });
  }
  return {
    statusCode: accepted === results.length ? 202 : 207,
    body: { accepted, rejected: results.length - accepted, results },
  };
}

const idSchema = z.uuid();

/** GET /events/{id}: the stored event through the cache; an unknown id is remembered briefly as unknown. */
async function readEvent(id: string | undefined, config: ApiConfig) {
  const parsed = idSchema.safeParse(id);
  if (!parsed.success) {
    throw badRequest('the event id is invalid', [{ path: 'id', message: 'must be a UUID', rule: 'uuid' }]);
  }
  const load = async (): Promise<StoredEvent | null> => {
    const guard = await dbBreaker();
    const row = await guard.execute(async () =>
      (await db()).kysely.selectFrom('events').selectAll().where('id', '=', parsed.data).executeTakeFirst(),
    );
    return row ? toStoredEvent(row) : null;
  };
  const shared = await cache();
  const found = shared
    ? await shared.getOrSet(storedEventKey(parsed.data), load, {
        ttlSeconds: (value) => (value === null ? config.notFoundTtlSeconds : STORED_EVENT_TTL_SECONDS),
      })
    : await load();
  if (!found) throw new RequestRejected(404, `no event ${parsed.data}`);
  return found;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
const statsQuerySchema = z
  .object({
    type: z.string().regex(NAME, 'must be an event type').optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** GET /events/stats?type&from&to: counts per hour over whole hours (default the last 24), briefly cached. */
async function readStats(query: Record<string, string | undefined>, config: ApiConfig) {
  const parsed = statsQuerySchema.safeParse(query);
  if (!parsed.success) {
    throw badRequest(
      'the query is invalid',
      parsed.error.issues.map((i) => ({
        path: i.path.length ? i.path.join('.') : String((i as { keys?: string[] }).keys?.[0] ?? '(query)'),
        message: i.message,
        rule: i.code,
      })),
    );
  }
  const { type, from, to } = parsed.data;
  // Whole hours, so that every query of the same range shares one cache entry.
  const end = Math.ceil((to ? Date.parse(to) : Date.now()) / HOUR_MS) * HOUR_MS;
  const start = Math.floor((from ? Date.parse(from) : end - 24 * HOUR_MS) / HOUR_MS) * HOUR_MS;
  if (start >= end) {
    throw badRequest('the range is empty', [{ path: 'from', message: 'must be before to', rule: 'range' }]);
  }
  if (end - start > MAX_STATS_HOURS * HOUR_MS) {
    throw badRequest('the range is too wide', [
      { path: 'from', message: `the range may span at most ${MAX_STATS_HOURS} hours`, rule: 'range' },
    ]);
  }
  const load = async () => {
    const guard = await dbBreaker();
    const rows = await guard.execute(async () => {
      let q = (await db()).kysely
        .selectFrom('event_counts_hourly')
        .select(['type', 'hour', 'count'])
        .where('hour', '>=', new Date(start))
        .where('hour', '<', new Date(end));
      if (type) q = q.where('type', '=', type);
      return q.orderBy('hour').orderBy('type').execute();
    });
    const hours = rows.map((r) => ({ hour: r.hour.toISOString(), type: r.type, count: Number(r.count) }));
    return {
      ...(type ? { type } : {}),
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
      total: hours.reduce((sum, h) => sum + h.count, 0),
      hours,
    };
  };
  const shared = await cache();
  const key = `stats:${type ?? '*'}:${start}:${end}`;
  return shared ? shared.getOrSet(key, load, { ttlSeconds: config.statsTtlSeconds }) : load();
}

/**
 * The events pipeline's HTTP API: takes events and queues them for the worker, reads stored events and their
 * hourly counts through the cache, and reports its dependencies' health.
 */
export const handler = createHttpHandler({
  config: { api },
  // Served also when the config is invalid, to say what is wrong with it.
  health,
  healthPath: paths.health.path,
  routes: (route) => [
    route.post(
      paths.publish.path,
      { schema: eventInputSchema, maxBytes: ({ api }) => api.maxPayloadBytes },
      async (request, { lambda }) => ({ statusCode: 202, body: await acceptEvent(request, lambda) }),
    ),
    route.post(
      paths.publishBatch.path,
      { schema: batchSchema, maxBytes: ({ api }) => api.maxBatchBytes },
      (request, { config }) => acceptBatch(request.body.events, config.api),
    ),
    route.get(paths.stats.path, async (request, { config }) => ({
      statusCode: 200,
      body: await readStats(request.query, config.api),
    })),
    route.get(paths.read.path, async (request, { config }) => ({
      statusCode: 200,
      body: await readEvent(request.pathParameters.id, config.api),
    })),
  ],
});
