import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { handler } from '@lambda-infra/db-migrate';
import { createDb, grantAppUser, sql } from '@lambda-infra/shared/db';
import { afterAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../support/events.ts';
import { useTestDatabase } from '../support/postgres.ts';

const BIN = resolve('shared/bin/lambda-infra.ts');
const FOLDER = 'functions/db-migrate/migrations';
const database = useTestDatabase();

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) =>
      done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('lambda-infra db migrate', () => {
  const url = () => {
    const { host, port, user, database: name } = database.options;
    return `postgres://${user}@${host}:${port}/${name}`;
  };

  it('status, up, down and up again', async () => {
    const before = await cli('db', 'migrate', 'status', '--folder', FOLDER, '--url', url());
    expect(before.stdout).toMatch(
      /pending\s+0001_events\npending\s+0002_event_counts_hourly\n0 applied, 2 pending/,
    );

    const up = await cli('db', 'migrate', 'up', '--folder', FOLDER, '--url', url());
    expect(up).toMatchObject({ code: 0 });
    expect(up.stdout).toBe('applied 0001_events\napplied 0002_event_counts_hourly\n2 applied\n');

    const down = await cli('db', 'migrate', 'down', '--folder', FOLDER, '--url', url());
    expect(down.stdout).toBe('undone 0002_event_counts_hourly\n1 undone\n');

    const status = await cli('db', 'migrate', 'status', '--folder', FOLDER, '--url', url());
    expect(status.stdout).toMatch(
      /^applied \S+Z\s+0001_events\npending\s+0002_event_counts_hourly\n1 applied, 1 pending\n$/,
    );

    const again = await cli('db', 'migrate', 'up', '--folder', FOLDER, '--url', url());
    expect(again.stdout).toBe('applied 0002_event_counts_hourly\n1 applied\n');
    expect(
      (await cli('db', 'migrate', 'down', '--to', 'all', '--folder', FOLDER, '--url', url())).stdout,
    ).toBe('undone 0002_event_counts_hourly\nundone 0001_events\n2 undone\n');
  });

  it('names what is wrong: a bad direction, a missing folder, an unknown migration', async () => {
    const sideways = await cli('db', 'migrate', 'sideways', '--url', url());
    expect(sideways.code).toBe(2);
    expect(sideways.stderr).toContain('db migrate takes up, down or status');

    const missing = await cli('db', 'migrate', 'up', '--folder', 'no/such/folder', '--url', url());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the migrations folder');

    const unknown = await cli(
      'db',
      'migrate',
      'down',
      '--to',
      '0009_nothing',
      '--folder',
      FOLDER,
      '--url',
      url(),
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      'no migration named 0009_nothing: known are 0001_events, 0002_event_counts_hourly',
    );
  });
});

describe('the migration function', () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it('migrates up on an empty event (a deploy trigger), reports status, and migrates down on request', async () => {
    Object.assign(process.env, {
      ...database.bindings,
    });
    const up = await handler({}, lambdaContext('db-migrate'));
    expect(up).toMatchObject({ direction: 'up', applied: ['0001_events', '0002_event_counts_hourly'] });
    expect(await handler({}, lambdaContext('db-migrate'))).toMatchObject({ applied: [] });

    const status = (await handler({ direction: 'status' }, lambdaContext('db-migrate'))) as {
      status: { name: string; executedAt?: Date }[];
    };
    expect(status.status.map((m) => m.name)).toEqual(['0001_events', '0002_event_counts_hourly']);
    expect(status.status.every((m) => m.executedAt instanceof Date)).toBe(true);

    const down = await handler({ direction: 'down', to: 'all' }, lambdaContext('db-migrate'));
    expect(down).toMatchObject({ direction: 'down', applied: ['0002_event_counts_hourly', '0001_events'] });
  });

  it('creates the app user and grants it the rows of every table, now and later', async () => {
    const appUser = `lambda_infra_app_${process.pid}`;
    Object.assign(process.env, {
      ...database.bindings,
      LAMBDA_INFRA_DB_APP_USER: appUser,
    });
    const db = createDb(database.options);
    try {
      await handler({}, lambdaContext('db-migrate'));
      await handler({}, lambdaContext('db-migrate')); // again: nothing to create, nothing fails
      const can = await sql<{ insert: boolean; ddl: boolean }>`select
          has_table_privilege(${appUser}, 'events', 'INSERT') as insert,
          has_schema_privilege(${appUser}, 'public', 'CREATE') as ddl`.execute(db.kysely);
      expect(can.rows).toEqual([{ insert: true, ddl: false }]);
      // A table a later migration creates is granted too.
      await sql`create table later (id int)`.execute(db.kysely);
      const later = await sql<{
        select: boolean;
      }>`select has_table_privilege(${appUser}, 'later', 'SELECT') as select`.execute(db.kysely);
      expect(later.rows).toEqual([{ select: true }]);
      await expect(grantAppUser(db, 'Robert"; drop table events; --')).rejects.toThrow(
        'is not a plain role name',
      );
    } finally {
      delete process.env.LAMBDA_INFRA_DB_APP_USER;
      // Roles belong to the server, not the database: this one goes with what it owns and was granted.
      await sql`drop owned by ${sql.id(appUser)}`.execute(db.kysely);
      await sql`drop role ${sql.id(appUser)}`.execute(db.kysely);
      await db.close();
    }
  });

  it('fails the invocation, and so the deploy, when the database cannot be reached', async () => {
    Object.assign(process.env, { LAMBDA_INFRA_DB_HOST: '127.0.0.1', LAMBDA_INFRA_DB_PORT: '1' });
    await expect(handler({}, lambdaContext('db-migrate'))).rejects.toMatchObject({
      type: 'connection',
      component: 'db',
    });
  });
});
