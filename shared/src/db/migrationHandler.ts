import type { Context } from 'aws-lambda';
import type { MigrationProvider } from 'kysely/migration';
import { readOptionalBinding } from '../config/bindings.ts';
import { logger } from '../observability/logger.ts';
import { withPowertools } from '../observability/withPowertools.ts';
import { createDb, type Db } from './createDb.ts';
import { dbConfigDefaults, dbOptionsFromEnvironment } from './environment.ts';
import { grantAppUser, type MigrationReport, Migrations } from './migrations.ts';

/** What the migration function is invoked with; an empty event (a deploy trigger) migrates up. */
export interface MigrationEvent {
  direction?: 'up' | 'down' | 'status';
  /** With `down`: undo this migration and every later one (`all`: every one). */
  to?: string;
}

export interface MigrationHandlerOptions {
  migrations: MigrationProvider;
  /** Default: a db from the bindings, whose statements may run for up to 5 minutes. */
  db?: () => Db<unknown>;
  /**
   * The role the functions connect as: after migrating up, it is created if missing and granted the tables
   * (`grantAppUser`). Default: the `LAMBDA_INFRA_DB_APP_USER` binding; none when that is unset.
   */
  appUser?: string;
}

/**
 * A Lambda handler that applies migrations: run on deploy (a CDK trigger invokes it with an empty event, and a
 * failure fails the deployment), or invoked by hand with `{ "direction": "down" }` or `{ "direction": "status" }`.
 */
export function createMigrationHandler(options: MigrationHandlerOptions) {
  const open =
    options.db ??
    (() =>
      createDb(dbOptionsFromEnvironment({ ...dbConfigDefaults, statementTimeoutMs: 300_000, poolMax: 1 })));
  return withPowertools(
    async (
      event: MigrationEvent | null | undefined,
      _context: Context,
    ): Promise<MigrationReport | object> => {
      const direction = event?.direction ?? 'up';
      if (direction !== 'up' && direction !== 'down' && direction !== 'status') {
        throw new TypeError(`direction must be up, down or status, got ${String(direction)}`);
      }
      const db = open();
      try {
        const migrations = new Migrations(db, options.migrations);
        if (direction === 'status') return { status: await migrations.status() };
        if (direction === 'down') return await migrations.down(event?.to ? { to: event.to } : {});
        const report = await migrations.up();
        const appUser = options.appUser ?? readOptionalBinding('dbAppUser');
        if (appUser) {
          const { rdsIam } = await grantAppUser(db, appUser);
          logger.info('app user granted', { appUser, rdsIam });
        }
        return report;
      } finally {
        // Migrations run rarely: the connection is not worth keeping in a container that may not run again.
        await db.close();
      }
    },
  );
}
