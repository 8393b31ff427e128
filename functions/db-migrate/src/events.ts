import { z } from 'zod';
import type { EventsTable } from './schema.ts';

/**
 * The event's kind and origin: short names a dashboard or a query groups by, never free text (no spaces,
 * no control characters), so they are safe in a log line, a metric and a cache key.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
const name = (what: string) =>
  z
    .string()
    .regex(
      NAME,
      `must be 1-200 characters of letters, digits and . _ : / -, starting with a letter or digit (the ${what})`,
    );

/** An event as a client sends it to `POST /events`; the API gives it an id when it has none. */
export const eventInputSchema = z.strictObject({
  id: z.uuid().optional(),
  type: name('kind of event, e.g. order.placed'),
  source: name('system it comes from'),
  payload: z.record(z.string(), z.unknown()),
});
export type EventInput = z.infer<typeof eventInputSchema>;

/** An event as the API publishes it and the worker reads it from the queue. */
export const eventSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(200),
  source: z.string().min(1).max(200),
  payload: z.record(z.string(), z.unknown()),
  correlationId: z.string().max(200).optional(),
});
export type Event = z.infer<typeof eventSchema>;

/** An event as it is stored, as `GET /events/{id}` answers it and the cache holds it. */
export interface StoredEvent {
  id: string;
  type: string;
  source: string;
  payload: Record<string, unknown>;
  correlationId: string | null;
  /** When the worker stored it, ISO 8601. */
  storedAt: string;
}

type EventRow = Pick<EventsTable, 'id' | 'type' | 'source' | 'correlation_id'> & {
  payload: Record<string, unknown>;
  created_at: Date;
};

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    type: row.type,
    source: row.source,
    payload: row.payload,
    correlationId: row.correlation_id,
    storedAt: row.created_at.toISOString(),
  };
}

/** The namespace the API and the worker share in the cache, per environment. */
export const eventsCacheNamespace = (env: string) => `${env}:events:`;

/** How long a stored event stays in the cache, for the API's reads. */
export const STORED_EVENT_TTL_SECONDS = 300;

/** The cache key of a stored event: the worker writes it, the API reads it. */
export const storedEventKey = (id: string) => `event:${id}`;

/** The circuit the API and the worker keep around the events database, shared through the cache. */
export const EVENTS_DB_BREAKER = 'events-db';
