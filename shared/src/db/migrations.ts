import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import {
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
  Migrator,
  NO_MIGRATIONS,
} from 'kysely/migration';
import { classifyError, InfraError } from '../errors/index.ts';
import { logger } from '../observability/logger.ts';
import type { Db } from './createDb.ts';

export type { Migration, MigrationProvider } from 'kysely/migration';

/** A migration file: a name that sorts in order of application, such as `0001_events.ts`. */
const MIGRATION_FILE = /^\d+[-_][\w.-]*\.(ts|mts|js|mjs)$/;

/**
 * The migrations of a folder: each file whose name starts with digits (`0001_events.ts`) exports `up` and
 * `down`; its name without the extension names the migration. Other files (an index, helpers) are left alone.
 */
export function migrationsFromFolder(folder: string): MigrationProvider {
  const absolute = resolve(folder);
  return {
    async getMigrations() {
      let files: string[];
      try {
        files = (await readdir(absolute)).filter((f) => MIGRATION_FILE.test(f) && !f.endsWith('.d.ts'));
      } catch (error) {
        throw new InfraError(`cannot read the migrations folder ${absolute}: ${(error as Error).message}`, {
          type: 'config',
          component: 'db',
          cause: error,
        });
      }
      const migrations: Record<string, Migration> = {};
      for (const file of files.sort()) {
        const module = (await import(pathToFileURL(join(absolute, file)).href)) as Partial<Migration>;
        if (typeof module.up !== 'function') {
          throw new InfraError(`migration ${file} does not export an up function`, {
            type: 'config',
            component: 'db',
          });
        }
        migrations[file.replace(/\.[^.]+$/, '')] = module as Migration;
      }
      return migrations;
    },
  };
}

/** Migrations listed in code, for a bundled function where no folder can be read. */
export function migrationsFrom(migrations: Record<string, Migration>): MigrationProvider {
  return { getMigrations: async () => migrations };
}

export interface MigrationStatus {
  name: string;
  /** When it was applied; undefined while pending. */
  executedAt: Date | undefined;
}

export interface MigrationReport {
  /** What ran, in order: `up` lists the migrations applied, `down` the one undone. */
  applied: string[];
  direction: 'up' | 'down';
  status: MigrationStatus[];
}

async function statusOf(migrator: Migrator): Promise<MigrationStatus[]> {
  return (await migrator.getMigrations()).map((m) => ({ name: m.name, executedAt: m.executedAt }));
}

function settle(result: MigrationResultSet, direction: 'up' | 'down'): string[] {
  const ran = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (result.error === undefined) return ran;
  const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
  const cause = classifyError(result.error, 'db');
  const reason = cause.message;
  // A run is one transaction: the failed migration takes the ones before it in the same run back with it.
  const rolledBack = ran.length ? `; ${ran.join(', ')} rolled back with it` : '';
  throw new InfraError(
    failed
      ? `migration ${failed} failed (${direction}): ${reason}${rolledBack}`
      : `migrations could not run (${direction}): ${reason}`,
    // Keeps what the database said: a lost connection is retryable, a bad statement is not.
    { type: cause.type, retryable: cause.retryable, code: cause.code, component: 'db', cause: result.error },
  );
}

/**
 * Kysely's migrator on the db. A run (`up`, `down`) is one transaction, so it applies whole or not at all, and
 * concurrent runs (two deploys) wait on a lock in Postgres rather than both applying.
 */
export class Migrations {
  readonly #migrator: Migrator;

  constructor(db: Db<unknown>, provider: MigrationProvider) {
    this.#migrator = new Migrator({ db: db.kysely, provider });
  }

  /** Applies every pending migration in order. */
  async up(): Promise<MigrationReport> {
    const applied = settle(await this.#migrator.migrateToLatest(), 'up');
    if (applied.length) logger.info('migrations applied', { applied });
    return { direction: 'up', applied, status: await this.status() };
  }

  /** Undoes the last applied migration, or `to` and everything after it (`to: 'all'` undoes every one). */
  async down(options: { to?: string } = {}): Promise<MigrationReport> {
    let result: MigrationResultSet;
    if (options.to === undefined) {
      result = await this.#migrator.migrateDown();
    } else if (options.to === 'all') {
      result = await this.#migrator.migrateTo(NO_MIGRATIONS);
    } else {
      const all = await this.status();
      const index = all.findIndex((m) => m.name === options.to);
      if (index < 0) {
        throw new InfraError(
          `no migration named ${options.to}: known are ${all.map((m) => m.name).join(', ')}`,
          {
            type: 'validation',
            component: 'db',
          },
        );
      }
      const previous = all[index - 1];
      result = await this.#migrator.migrateTo(previous ? previous.name : NO_MIGRATIONS);
    }
    const applied = settle(result, 'down');
    if (applied.length) logger.info('migrations undone', { undone: applied });
    return { direction: 'down', applied, status: await this.status() };
  }

  /** Every migration known, applied or pending, in order. */
  status(): Promise<MigrationStatus[]> {
    return statusOf(this.#migrator);
  }
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Creates the role the functions connect as, if it is missing, lets it log in with IAM tokens where the
 * database knows them (`rds_iam`, on RDS and Aurora), and grants it the data of the public schema (rows, not
 * DDL), now and for tables later migrations create. Safe to run after every migration.
 */
export async function grantAppUser(db: Db<unknown>, user: string): Promise<{ rdsIam: boolean }> {
  if (!ROLE_NAME.test(user)) {
    throw new InfraError(
      `app user "${user}" is not a plain role name: use lowercase letters, digits and _, at most 63, not starting with a digit`,
      { type: 'config', component: 'db' },
    );
  }
  const role = sql.id(user);
  return db.transaction(async (trx) => {
    const exists = await sql<{ n: number }>`select 1 as n from pg_roles where rolname = ${user}`.execute(trx);
    if (exists.rows.length === 0) await sql`create role ${role} login`.execute(trx);
    const rdsIam = (await sql`select 1 from pg_roles where rolname = 'rds_iam'`.execute(trx)).rows.length > 0;
    if (rdsIam) await sql`grant rds_iam to ${role}`.execute(trx);
    await sql`grant usage on schema public to ${role}`.execute(trx);
    await sql`grant select, insert, update, delete on all tables in schema public to ${role}`.execute(trx);
    await sql`grant usage, select on all sequences in schema public to ${role}`.execute(trx);
    await sql`alter default privileges in schema public grant select, insert, update, delete on tables to ${role}`.execute(
      trx,
    );
    await sql`alter default privileges in schema public grant usage, select on sequences to ${role}`.execute(
      trx,
    );
    return { rdsIam };
  });
}
