import type { Kysely } from 'kysely';

/** Events per type per hour, kept by the worker in the transaction that stores each event. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('event_counts_hourly')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('hour', 'timestamptz', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('event_counts_hourly_pkey', ['type', 'hour'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('event_counts_hourly').execute();
}
