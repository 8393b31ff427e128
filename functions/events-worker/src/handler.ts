import { cache, db, dbBreaker } from '@lambda-infra/db-migrate/clients';
import {
  type Event,
  eventSchema,
  STORED_EVENT_TTL_SECONDS,
  type StoredEvent,
  storedEventKey,
  toStoredEvent,
} from '@lambda-infra/db-migrate/events';
import { readOptionalBinding } from '@lambda-infra/shared/config';
import { sql } from '@lambda-infra/shared/db';
import { createSqsHandler } from '@lambda-infra/shared/mq';
import { eventMetrics } from '@lambda-infra/shared/observability';
import { retry } from './config.ts';

export { type Event, eventSchema, STORED_EVENT_TTL_SECONDS, storedEventKey };

/**
 * Stores each event once by its id and counts it in its hour, in one transaction. Returns the event as stored
 * (the first delivery's row, also on a redelivery) and whether this delivery stored it.
 */
async function store(event: Event): Promise<{ stored: StoredEvent; isNew: boolean }> {
  const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  return (await db()).transaction(async (trx) => {
    const inserted = await trx
      .insertInto('events')
      .values({
        id: event.id,
        type: event.type,
        source: event.source,
        payload: JSON.stringify(event.payload),
        correlation_id: event.correlationId ?? null,
      })
      .onConflict((c) => c.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    // A redelivered event is already counted: the row of its first delivery is what was stored.
    if (!inserted) {
      const row = await trx
        .selectFrom('events')
        .selectAll()
        .where('id', '=', event.id)
        .executeTakeFirstOrThrow();
      return { stored: toStoredEvent(row), isNew: false };
    }
    await trx
      .insertInto('event_counts_hourly')
      .values({ type: event.type, hour, count: 1 })
      .onConflict((c) =>
        c.columns(['type', 'hour']).doUpdateSet({ count: sql`event_counts_hourly.count + 1` }),
      )
      .execute();
    return { stored: toStoredEvent(inserted), isNew: true };
  });
}

/**
 * The queue's consumer: stores each event once behind a circuit every container shares, then writes it to the
 * cache so that the API's next read of it is a hit. A cache that is down costs the write, never the event.
 */
export const handler = createSqsHandler({
  schema: eventSchema,
  retry,
  // Bound by the stack, so no lookup of it is needed (nor granted); else found from the redrive policy.
  ...(readOptionalBinding('deadLetterQueueUrl')
    ? { deadLetterQueueUrl: readOptionalBinding('deadLetterQueueUrl')! }
    : {}),
  handle: async ({ body, correlationId }) => {
    // The event's own id, else the one its message came with: stored and cached alike.
    const event = { ...body, correlationId: body.correlationId ?? correlationId };
    const breaker = await dbBreaker();
    const { stored, isNew } = await breaker.execute(() => store(event));
    if (isNew) eventMetrics.stored();
    // What the API's GET answers, so the read after the store is a hit (and replaces a cached "not found").
    const shared = await cache();
    await shared?.set(storedEventKey(event.id), stored, STORED_EVENT_TTL_SECONDS);
  },
});
