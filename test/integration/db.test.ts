import { rm } from 'node:fs/promises';
import { migrations as listedMigrations } from '@lambda-infra/db-migrate/migrations';
import type { EventsDatabase } from '@lambda-infra/db-migrate/schema';
import { consecutive, createBreaker } from '@lambda-infra/shared/breaker';
import {
  createDb,
  type Db,
  dbHealthCheck,
  Migrations,
  migrationsFromFolder,
  sql,
} from '@lambda-infra/shared/db';
import { InfraError } from '@lambda-infra/shared/errors';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureConsole } from '../support/console.ts';
import { adminQuery, startPasswordFront, useTestDatabase } from '../support/postgres.ts';
import { type Certificate, selfSignedCertificate } from '../support/tls.ts';

const MIGRATIONS_FOLDER = 'functions/db-migrate/migrations';
const database = useTestDatabase();

const opened: Db<unknown>[] = [];
function open(options: Partial<Parameters<typeof createDb>[0]> = {}): Db<EventsDatabase> {
  const db = createDb<EventsDatabase>({ ...database.options, ...options });
  opened.push(db as Db<unknown>);
  return db;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

/** Backends connected to this test's database, by pid, with what they run. */
async function backends(): Promise<{ pid: number; state: string; query: string }[]> {
  return adminQuery(
    'select pid, state, query from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [database.name],
  );
}

async function migrateUp(): Promise<void> {
  const db = createDb({ ...database.options, breaker: false });
  await new Migrations(db, migrationsFromFolder(MIGRATIONS_FOLDER)).up();
  await db.close();
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Two SERIALIZABLE read-then-write increments of one counter, each reading before either writes on its first
 * attempt, so one of them must fail to serialize. What each call came to, how often the bodies ran, and the
 * count left.
 */
async function racingIncrements(db: Db<EventsDatabase>, type: string, retries?: number) {
  const hour = new Date('2026-11-22T10:00:00Z');
  await db.kysely.insertInto('event_counts_hourly').values({ type, hour, count: 0 }).execute();
  let arrived = 0;
  let release!: () => void;
  const bothRead = new Promise<void>((resolve) => {
    release = resolve;
  });
  let runs = 0;
  const increment = () =>
    db.transaction(
      async (trx) => {
        runs++;
        const row = await trx
          .selectFrom('event_counts_hourly')
          .select('count')
          .where('type', '=', type)
          .executeTakeFirstOrThrow();
        if (++arrived === 2) release();
        await bothRead;
        await trx
          .updateTable('event_counts_hourly')
          .set({ count: Number(row.count) + 1 })
          .where('type', '=', type)
          .execute();
      },
      { isolation: 'serializable', ...(retries === undefined ? {} : { retries }) },
    );
  const outcomes = await Promise.allSettled([increment(), increment()]);
  const { count } = await db.kysely
    .selectFrom('event_counts_hourly')
    .select('count')
    .where('type', '=', type)
    .executeTakeFirstOrThrow();
  return { outcomes, runs, count };
}

describe('migrations', () => {
  it('go up, down and up again, and status shows each step', async () => {
    const db = open();
    const migrations = new Migrations(db as Db<unknown>, migrationsFromFolder(MIGRATIONS_FOLDER));

    const pending = await migrations.status();
    expect(pending.map((m) => [m.name, m.executedAt])).toEqual([
      ['0001_events', undefined],
      ['0002_event_counts_hourly', undefined],
    ]);

    const up = await migrations.up();
    expect(up.applied).toEqual(['0001_events', '0002_event_counts_hourly']);
    expect(up.status.every((m) => m.executedAt instanceof Date)).toBe(true);
    await db.kysely
      .insertInto('events')
      .values({ id: crypto.randomUUID(), type: 't', source: 's', payload: JSON.stringify({ a: 1 }) })
      .execute();

    const down = await migrations.down();
    expect(down.applied).toEqual(['0002_event_counts_hourly']);
    expect(down.status.map((m) => m.executedAt === undefined)).toEqual([false, true]);
    const tables = await adminQuery(
      `select table_name from information_schema.tables where table_catalog = $1 and table_schema = 'public'
        and table_name like 'event%' order by 1`,
      [database.name],
    ).catch(() => []);
    // information_schema of another database is not visible from `test`: ask this one instead.
    expect(tables).toEqual([]);
    const here = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = 'public' and table_name like 'event%' order by 1`.execute(db.kysely);
    expect(here.rows.map((r) => r.name)).toEqual(['events']);

    const again = await migrations.up();
    expect(again.applied).toEqual(['0002_event_counts_hourly']);
    expect((await migrations.up()).applied).toEqual([]);

    const all = await migrations.down({ to: 'all' });
    expect(all.applied).toEqual(['0002_event_counts_hourly', '0001_events']);
    expect(all.status.every((m) => m.executedAt === undefined)).toBe(true);
  });

  it('the list bundled into the migration function is the folder the CLI reads', async () => {
    const fromFolder = await migrationsFromFolder(MIGRATIONS_FOLDER).getMigrations();
    const listed = await listedMigrations.getMigrations();
    expect(Object.keys(listed)).toEqual(Object.keys(fromFolder));
    for (const [name, migration] of Object.entries(listed)) {
      expect(migration.up, name).toBe(fromFolder[name]?.up);
      expect(migration.down, name).toBe(fromFolder[name]?.down);
    }
  });

  it('a failing migration names itself and leaves nothing of its run applied', async () => {
    const db = open();
    const broken = new Migrations(db as Db<unknown>, {
      getMigrations: async () => ({
        '0001_good': { up: (k) => k.schema.createTable('good').addColumn('id', 'integer').execute() },
        '0002_bad': { up: async (k) => void (await sql`select * from no_such_table`.execute(k)) },
      }),
    });
    const error = await broken.up().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfraError);
    expect((error as Error).message).toMatch(
      /^migration 0002_bad failed \(up\): .*no_such_table.*0001_good rolled back/,
    );
    expect((await broken.status()).map((m) => m.executedAt)).toEqual([undefined, undefined]);
    const good = await sql`select to_regclass('good') as t`.execute(db.kysely);
    expect(good.rows).toEqual([{ t: null }]);
  });
});

describe('db', () => {
  beforeAll(migrateUp);

  it('stores hostile input given as parameters verbatim, and runs none of it', async () => {
    const db = open();
    const hostile = [
      "'; drop table events; --",
      "x' or '1'='1",
      'Robert"); DELETE FROM event_counts_hourly; --',
      '$1 $2 \\x00 \u0000'.replace('\u0000', ''),
      '{"$where": "sleep(1000)"}',
      '\u202e\u0645\u0631\u062d\u0628\u0627 😀',
    ];
    await db.kysely
      .insertInto('event_counts_hourly')
      .values({ type: 'guard', hour: new Date(0), count: 1 })
      .execute();
    for (const [i, text] of hostile.entries()) {
      await db.kysely
        .insertInto('events')
        .values({
          id: crypto.randomUUID(),
          type: text,
          source: `hostile-${i}`,
          payload: JSON.stringify({ text, [text]: text }),
          correlation_id: text,
        })
        .execute();
    }
    const rows = await db.kysely
      .selectFrom('events')
      .select(['type', 'payload', 'correlation_id'])
      .where('source', 'like', 'hostile-%')
      .orderBy('source')
      .execute();
    expect(rows.map((r) => r.type)).toEqual(hostile);
    expect(rows.map((r) => r.correlation_id)).toEqual(hostile);
    expect(rows.map((r) => r.payload)).toEqual(hostile.map((text) => ({ text, [text]: text })));
    const found = await db.kysely
      .selectFrom('events')
      .select('source')
      .where('type', '=', "x' or '1'='1")
      .execute();
    expect(found).toEqual([{ source: 'hostile-1' }]);
    expect(await db.kysely.selectFrom('event_counts_hourly').selectAll().execute()).toHaveLength(1);
  });

  it("the pipeline's schema: an event stored once by id, and counted per type and hour", async () => {
    const db = open();
    const hour = new Date('2026-11-22T09:00:00Z');
    const store = (id: string) =>
      db.transaction(
        async (trx) => {
          const inserted = await trx
            .insertInto('events')
            .values({ id, type: 'order.placed', source: 'shop', payload: JSON.stringify({ total: 12 }) })
            .onConflict((c) => c.column('id').doNothing())
            .executeTakeFirst();
          if (inserted.numInsertedOrUpdatedRows === 0n) return;
          await trx
            .insertInto('event_counts_hourly')
            .values({ type: 'order.placed', hour, count: 1 })
            .onConflict((c) =>
              c.columns(['type', 'hour']).doUpdateSet({ count: sql`event_counts_hourly.count + 1` }),
            )
            .execute();
        },
        { isolation: 'serializable' },
      );
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    await store(a);
    await store(b);
    await store(a);
    const counts = await db.kysely
      .selectFrom('event_counts_hourly')
      .select(['hour', 'count'])
      .where('type', '=', 'order.placed')
      .execute();
    expect(counts).toEqual([{ hour, count: '2' }]);
    const stored = await db.kysely
      .selectFrom('events')
      .select(['payload', 'created_at'])
      .where('id', '=', a)
      .execute();
    expect(stored).toEqual([{ payload: { total: 12 }, created_at: expect.any(Date) }]);
  });

  it('retries the loser of two conflicting SERIALIZABLE transactions, and each effect lands once', async () => {
    const db = open();

    const race = await racingIncrements(db, 'race');

    expect(race.outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(race.count).toBe('2');
    expect(race.runs).toBe(3);
    expect(db.stats().retries).toBe(1);
  });

  it('without retries the same conflict fails with 40001, retryable, and the loser changes nothing', async () => {
    const db = open();

    const race = await racingIncrements(db, 'race-0', 0);

    const failures = race.outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as InfraError);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: '40001', retryable: true, component: 'db' });
    expect(race.count).toBe('1');
    expect(race.runs).toBe(2);
  });

  it('an error thrown inside a transaction comes back unchanged and rolls the transaction back', async () => {
    const db = open();
    class Refused extends Error {}
    const error = await db
      .transaction(async (trx) => {
        await trx
          .insertInto('event_counts_hourly')
          .values({ type: 'rolled-back', hour: new Date(), count: 1 })
          .execute();
        throw new Refused('no');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Refused);
    const rows = await db.kysely
      .selectFrom('event_counts_hourly')
      .selectAll()
      .where('type', '=', 'rolled-back')
      .execute();
    expect(rows).toEqual([]);
  });

  it('a connection killed mid-query fails that query as a connection error; the next runs on a new connection', async () => {
    const db = open();
    const sleeping = sql`select pg_sleep(30)`.execute(db.kysely).catch((e: unknown) => e);
    const victim = await until(async () => (await backends()).find((b) => b.query.includes('pg_sleep(30)')));
    await adminQuery('select pg_terminate_backend($1, 5000)', [victim.pid]);

    const error = await sleeping;
    expect(error).toBeInstanceOf(InfraError);
    expect(error).toMatchObject({ type: 'connection', retryable: true, component: 'db' });

    const next = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.kysely);
    expect(next.rows[0]?.pid).not.toBe(victim.pid);
    expect(db.stats().total).toBe(1);
  });

  it('a connection killed while idle is replaced, and the next query succeeds', async () => {
    const db = open();
    const first = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.kysely);
    const pid = first.rows[0]?.pid as number;
    await adminQuery('select pg_terminate_backend($1, 5000)', [pid]);

    const next = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db.kysely);
    expect(next.rows[0]?.pid).not.toBe(pid);
  });

  it('statements past the statement timeout are cancelled by the server as timeouts', async () => {
    const db = open({ statementTimeoutMs: 100 });
    const error = await sql`select pg_sleep(5)`.execute(db.kysely).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: 'timeout', code: '57014', component: 'db' });
    const ok = await sql<{ one: number }>`select 1 as one`.execute(db.kysely);
    expect(ok.rows).toEqual([{ one: 1 }]);
  });

  it('classifies a constraint violation as validation, with its SQLSTATE, and does not count it against the circuit', async () => {
    const breaker = createBreaker({ name: 'db-test', strategy: consecutive(2) });
    const db = open({ breaker });
    const id = crypto.randomUUID();
    const row = { id, type: 't', source: 'dup', payload: JSON.stringify({}) };
    await db.kysely.insertInto('events').values(row).execute();
    for (let i = 0; i < 3; i++) {
      const error = await db.kysely
        .insertInto('events')
        .values(row)
        .execute()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ type: 'validation', code: '23505', retryable: false });
    }
    expect(breaker.state).toBe('closed');
  });

  it('health: healthy with its latency; unhealthy when the database is unreachable', async () => {
    const db = open();
    const check = dbHealthCheck(db as Db<unknown>);
    const outcome = await check.check();
    expect(outcome?.status).toBe('healthy');
    expect(outcome?.message).toMatch(/^select 1 in \d+\.\d ms; \d\/2 connections in use, 0 waiting$/);

    const unreachable = open({ port: 1, connectTimeoutMs: 500, breaker: false });
    const error = await Promise.resolve(dbHealthCheck(unreachable as Db<unknown>).check()).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ type: 'connection', code: 'ECONNREFUSED', component: 'db' });
  });

  it('health: degraded while callers wait for a connection', async () => {
    const db = open({ poolMax: 1 });
    const busy = sql`select pg_sleep(0.3)`.execute(db.kysely);
    const waiting = sql`select pg_sleep(0.3)`.execute(db.kysely);
    await until(async () => (db.stats().waiting > 0 ? true : undefined));
    const outcome = await dbHealthCheck(db as Db<unknown>).check();
    await Promise.all([busy, waiting]);
    expect(outcome?.status).toBe('degraded');
    expect(outcome?.message).toMatch(/1 waiting$/);
  });

  it('opens the circuit after repeated connection failures and refuses at once while open', async () => {
    const breaker = createBreaker({
      name: 'db-down',
      strategy: consecutive(3),
      openMs: 60_000,
      maxOpenMs: 60_000,
    });
    const db = open({ port: 1, connectTimeoutMs: 500, breaker });
    for (let i = 0; i < 3; i++) {
      await expect(db.ping()).rejects.toMatchObject({ type: 'connection', code: 'ECONNREFUSED' });
    }
    expect(breaker.state).toBe('open');
    await expect(db.ping()).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', component: 'breaker' });
    expect(db.stats().errors).toBe(4);
  });

  it('logs a slow query with its SQL and without its parameters; records query durations as metrics', async () => {
    const db = open({ slowQueryMs: 50 });
    const output = captureConsole();
    try {
      await sql`select pg_sleep(0.1), ${'secret-parameter'}::text as p`.execute(db.kysely);
      await sql`select 1`.execute(db.kysely);
      db.recordMetrics();
      const { invocationMetrics } = await import('@lambda-infra/shared/observability');
      invocationMetrics.flush();
      const warnings = output.warnings();
      const slow = warnings.find((l) => l.message === 'slow query');
      expect(slow).toMatchObject({
        level: 'WARN',
        thresholdMs: 50,
        sql: 'select pg_sleep(0.1), $1::text as p',
      });
      expect(JSON.stringify(warnings)).not.toContain('secret-parameter');
      const durations = output.metrics().find((m) => m.name === 'DbQueryDuration')?.value;
      expect(durations).toHaveLength(2);
      expect((durations as number[])[0]).toBeGreaterThanOrEqual(100);
    } finally {
      output.restore();
    }
  });
});

describe('through a proxy', () => {
  let certificate: Certificate;
  beforeAll(async () => {
    await migrateUp();
    certificate = await selfSignedCertificate('lambda-infra-db-tls-');
  });
  afterAll(() => rm(certificate.dir, { recursive: true, force: true }));

  it('IAM: a token is signed once, serves new connections while young, and a fresh one is signed after', async () => {
    const front = await startPasswordFront({
      accept: (password) => password.startsWith('token-'),
      tls: { keyPem: certificate.keyPem, certPem: certificate.caPem },
    });
    let clock = 1_000_000;
    let signed = 0;
    const db = open({
      port: front.port,
      poolMax: 1,
      tls: { caPem: certificate.caPem },
      auth: {
        type: 'iam',
        region: 'us-east-1',
        tokenMaxAgeMs: 600_000,
        signer: { getAuthToken: async () => `token-${++signed}` },
        now: () => clock,
      },
    });
    // A connection killed after each query: the next query needs a new connection, and so a password.
    const onNewConnection = async () => {
      const { rows } = await sql<{ pid: number; ssl: boolean }>`select pg_backend_pid() as pid`.execute(
        db.kysely,
      );
      await adminQuery('select pg_terminate_backend($1, 5000)', [rows[0]?.pid]);
      await until(async () => (db.stats().total === 0 ? true : undefined));
    };
    try {
      await onNewConnection();
      clock += 300_000;
      await onNewConnection();
      clock += 300_001; // the first token is now older than tokenMaxAgeMs
      await onNewConnection();
      expect(front.passwords).toEqual(['token-1', 'token-1', 'token-2']);
      expect(signed).toBe(2);
    } finally {
      await front.close();
    }
  });

  it('IAM: a refused token fails as a config error, not retryable', async () => {
    const front = await startPasswordFront({
      accept: () => false,
      tls: { keyPem: certificate.keyPem, certPem: certificate.caPem },
    });
    const db = open({
      port: front.port,
      tls: { caPem: certificate.caPem },
      auth: { type: 'iam', region: 'us-east-1', signer: { getAuthToken: async () => 'expired' } },
    });
    try {
      await expect(db.ping()).rejects.toMatchObject({ type: 'config', code: '28P01', retryable: false });
    } finally {
      await front.close();
    }
  });

  it('IAM without TLS is refused before any connection, naming the rule', () => {
    expect(() => open({ auth: { type: 'iam', region: 'us-east-1' } })).toThrow(
      'iam authentication sends its secret as the password: it needs tls',
    );
  });

  it('an idle connection cut while frozen: the next read goes again on a new connection', async () => {
    const front = await startPasswordFront();
    const db = open({ port: front.port, poolMax: 1, breaker: false });
    try {
      await sql`select 1`.execute(db.kysely);
      front.sever();
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db.kysely);
      expect(rows).toEqual([{ one: 1 }]);
      expect(front.passwords).toHaveLength(2);
    } finally {
      await front.close();
    }
  });

  it.each(['a read', 'a transaction'])(
    'an idle connection cut while the database is down: %s fails as a retryable connection error',
    async (what) => {
      const front = await startPasswordFront();
      const db = open({ port: front.port, poolMax: 1, breaker: false });
      await sql`select 1`.execute(db.kysely);
      front.sever();
      await front.close(); // no new connection can be made either

      const error = await (what === 'a read'
        ? sql`select 1`.execute(db.kysely)
        : db.transaction((trx) => sql`select 1`.execute(trx))
      ).catch((e: unknown) => e);

      // Not "Release called on client which has already been released", filed as internal.
      expect(error).toMatchObject({ type: 'connection', retryable: true });
    },
  );

  it('an idle connection cut while frozen: a write is not repeated, and fails as a connection error', async () => {
    const front = await startPasswordFront();
    const db = open({ port: front.port, poolMax: 1, breaker: false });
    try {
      await sql`select 1`.execute(db.kysely);
      front.sever();
      const id = crypto.randomUUID();
      const error = await db.kysely
        .insertInto('events')
        .values({ id, type: 't', source: 'cut', payload: JSON.stringify({}) })
        .execute()
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ type: 'connection', retryable: true });
      const after = await db.kysely.selectFrom('events').select('id').where('id', '=', id).execute();
      expect(after).toEqual([]);
    } finally {
      await front.close();
    }
  });
});
