import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/** A row of the event store. */
export interface EventsTable {
  id: string;
  type: string;
  source: string;
  payload: JSONColumnType<Record<string, unknown>>;
  correlation_id: string | null;
  created_at: Generated<Date>;
}

/** Events of one type in one hour. pg reads a bigint as a string, so no count is ever rounded. */
export interface EventCountsHourlyTable {
  type: string;
  hour: Date;
  count: ColumnType<string, number | bigint, number | bigint>;
}

/** The events pipeline's database, as its migrations leave it: `createDb<EventsDatabase>(…)`. */
export interface EventsDatabase {
  events: EventsTable;
  event_counts_hourly: EventCountsHourlyTable;
}
