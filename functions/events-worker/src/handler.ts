import type { EventsDatabase } from '@lambda-infra/db-migrate/schema';
import {
  breakerConfigDefaults,
  breakerConfigSchema,
  createConfiguredBreaker,
  memoryStore,
  redisStore,
} from '@lambda-infra/shared/breaker';
import {
  cacheConfigDefaults,
  cacheConfigSchema,
  cacheOptionsFromEnvironment,
  createCache,
} from '@lambda-infra/shared/cache';
import { defineConfig, readBinding, readOptionalBinding } from '@lambda-infra/shared/config';
import {
  createDb,
  dbConfigDefaults,
  dbConfigSchema,
  dbOptionsFromEnvironment,
  sql,
} from '@lambda-infra/shared/db';
import { lazy } from '@lambda-infra/shared/handler';
import { createSqsHandler, retryConfigDefaults, retryConfigSchema } from '@lambda-infra/shared/mq';
import { eventMetrics } from '@lambda-infra/shared/observability';
import { z } from 'zod';

/** An event as the API publishes it. */
export const eventSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(200),
  source: z.string().min(1).max(200),
  payload: z.record(z.string(), z.unknown()),
  correlationId: z.string().max(200).optional(),
});
export type Event = z.infer<typeof eventSchema>;

/** How long a stored event stays in the cache, for the API's reads. */
export const STORED_EVENT_TTL_SECONDS = 300;

/** The cache key of a stored event, in the namespace the API and the worker share. */
export const storedEventKey = (id: string) => `event:${id}`;

const dbConfig = defineConfig({ component: 'db', schema: dbConfigSchema, defaults: dbConfigDefaults });
const cacheConfig = defineConfig({
  component: 'cache',
  schema: cacheConfigSchema,
  defaults: cacheConfigDefaults,
});
const breakerConfig = defineConfig({
  component: 'breaker',
  schema: breakerConfigSchema,
  defaults: breakerConfigDefaults,
});
/** The retry schedule, from /config/{env}/events-worker/retry: see README, "How long a message survives". */
const retry = defineConfig({ component: 'retry', schema: retryConfigSchema, defaults: retryConfigDefaults });

const db = lazy(async () => createDb<EventsDatabase>(dbOptionsFromEnvironment(await dbConfig.get())));
/** The cache, where the stack gives one (LAMBDA_INFRA_CACHE_URL); the pipeline works without it. */
const cache = lazy(async () =>
  readOptionalBinding('cacheUrl')
    ? createCache({
        ...cacheOptionsFromEnvironment(await cacheConfig.get()),
        namespace: `${readBinding('env')}:events:`,
      })
    : undefined,
);
/** One circuit around the database for every worker container, shared through Redis when there is a cache. */
const dbBreaker = lazy(async () => {
  const shared = await cache();
  const breaker = await createConfiguredBreaker({
    name: 'events-db',
    config: breakerConfig,
    store: shared ? redisStore(shared) : memoryStore(),
  });
  await breaker.sync();
  return breaker;
});

/** Stores each event once by its id and counts it in its hour, in one transaction; returns whether it was new. */
async function store(event: Event): Promise<boolean> {
  const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  return (await db()).transaction(async (trx) => {
    const stored = await trx
      .insertInto('events')
      .values({
        id: event.id,
        type: event.type,
        source: event.source,
        payload: JSON.stringify(event.payload),
        correlation_id: event.correlationId ?? null,
      })
      .onConflict((c) => c.column('id').doNothing())
      .executeTakeFirst();
    // A redelivered event is already counted.
    if (stored.numInsertedOrUpdatedRows === 0n) return false;
    await trx
      .insertInto('event_counts_hourly')
      .values({ type: event.type, hour, count: 1 })
      .onConflict((c) =>
        c.columns(['type', 'hour']).doUpdateSet({ count: sql`event_counts_hourly.count + 1` }),
      )
      .execute();
    return true;
  });
}

/**
 * The queue's consumer: stores each event once behind a circuit every container shares, then writes it to the
 * cache so that the API's next read of it is a hit. A cache that is down costs the write, never the event.
 */
export const handler = createSqsHandler({
  schema: eventSchema,
  retry,
  handle: async ({ body, correlationId }) => {
    // The event's own id, else the one its message came with: stored and cached alike.
    const event = { ...body, correlationId: body.correlationId ?? correlationId };
    const breaker = await dbBreaker();
    const isNew = await breaker.execute(() => store(event));
    if (isNew) eventMetrics.stored();
    const shared = await cache();
    await shared?.set(storedEventKey(event.id), event, STORED_EVENT_TTL_SECONDS);
  },
});
