import type { EventsDatabase } from '@lambda-infra/db-migrate/schema';
import { defineConfig } from '@lambda-infra/shared/config';
import {
  createDb,
  dbConfigDefaults,
  dbConfigSchema,
  dbOptionsFromEnvironment,
  sql,
} from '@lambda-infra/shared/db';
import { lazy } from '@lambda-infra/shared/handler';
import { createSqsHandler } from '@lambda-infra/shared/mq';
import { z } from 'zod';

/** An event as the API publishes it. */
export const eventSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(200),
  source: z.string().min(1).max(200),
  payload: z.record(z.string(), z.unknown()),
  correlationId: z.string().max(200).optional(),
});

const dbConfig = defineConfig({ component: 'db', schema: dbConfigSchema, defaults: dbConfigDefaults });
const db = lazy(async () => createDb<EventsDatabase>(dbOptionsFromEnvironment(await dbConfig.get())));

/** Stores each event once by its id and counts it in its hour, in one transaction. */
export const handler = createSqsHandler({
  schema: eventSchema,
  handle: async ({ body }) => {
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    await (await db()).transaction(async (trx) => {
      const stored = await trx
        .insertInto('events')
        .values({
          id: body.id,
          type: body.type,
          source: body.source,
          payload: JSON.stringify(body.payload),
          correlation_id: body.correlationId ?? null,
        })
        .onConflict((c) => c.column('id').doNothing())
        .executeTakeFirst();
      // A redelivered event is already counted.
      if (stored.numInsertedOrUpdatedRows === 0n) return;
      await trx
        .insertInto('event_counts_hourly')
        .values({ type: body.type, hour, count: 1 })
        .onConflict((c) =>
          c.columns(['type', 'hour']).doUpdateSet({ count: sql`event_counts_hourly.count + 1` }),
        )
        .execute();
    });
  },
});
