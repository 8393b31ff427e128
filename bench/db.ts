// A simple select by primary key through Db (Kysely, breaker, timing) against raw pg in the same run, with
// plain Kysely over pg beside them to show which layer costs what. Each side has its own pool of the same size.
import { createDb, dbOptionsFromUrl } from '@lambda-infra/shared/db';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { median } from './median.ts';

const SERVER = dbOptionsFromUrl(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const ROUNDS = Number(process.env.BENCH_DB_ROUNDS ?? 6);
const OPS = Number(process.env.BENCH_DB_OPS ?? 5_000);
const POOL = 2;

interface BenchSchema {
  bench_items: { id: number; name: string; total: string };
}

/** Microseconds per query of `op`, run `total` times with `concurrency` in flight. */
async function microsPerQuery(op: (i: number) => Promise<unknown>, total: number, concurrency: number) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return ((performance.now() - started) * 1_000) / total;
}

export interface DbBenchResult {
  cases: Record<string, { raw: number; kysely: number; db: number; ratio: number; overKysely: number }>;
}

export async function benchDb(): Promise<DbBenchResult> {
  const server = { host: SERVER.host, port: SERVER.port, user: SERVER.user };
  const database = `lambda_infra_bench_${process.pid}`;
  const admin = new pg.Client({ ...server, database: SERVER.database });
  await admin.connect();
  await admin.query(`create database ${database}`);
  // pg's end() resolves before its sockets close, and the database is dropped right after: without a listener,
  // the server's goodbye to a closing connection would end the process.
  const pool = () => new pg.Pool({ ...server, database, max: POOL }).on('error', () => {});
  const raw = pool();
  const kysely = new Kysely<BenchSchema>({ dialect: new PostgresDialect({ pool: pool() }) });
  const db = createDb<BenchSchema>({ ...server, database, poolMax: POOL });
  try {
    await raw.query(
      'create table bench_items (id integer primary key, name text not null, total numeric not null)',
    );
    await raw.query(
      "insert into bench_items select i, 'item ' || i, i * 1.5 from generate_series(0, 999) as s(i)",
    );
    const sides = {
      raw: (i: number) =>
        raw
          .query('select "id", "name", "total" from "bench_items" where "id" = $1', [i % 1_000])
          .then((r) => r.rows[0]),
      kysely: (i: number) =>
        kysely
          .selectFrom('bench_items')
          .select(['id', 'name', 'total'])
          .where('id', '=', i % 1_000)
          .executeTakeFirst(),
      db: (i: number) =>
        db.kysely
          .selectFrom('bench_items')
          .select(['id', 'name', 'total'])
          .where('id', '=', i % 1_000)
          .executeTakeFirst(),
    };
    const cases: DbBenchResult['cases'] = {};
    for (const concurrency of [1, 4]) {
      const runs = { raw: [] as number[], kysely: [] as number[], db: [] as number[] };
      for (const op of Object.values(sides)) await microsPerQuery(op, 1_000, concurrency);
      // Alternating rounds, each starting with the next side, so that drift and order fall on every side alike.
      const order = Object.entries(sides);
      for (let r = 0; r < ROUNDS; r++) {
        for (let k = 0; k < order.length; k++) {
          const [name, op] = order[(r + k) % order.length]!;
          runs[name as keyof typeof runs].push(await microsPerQuery(op, OPS, concurrency));
        }
      }
      const result = { raw: median(runs.raw), kysely: median(runs.kysely), db: median(runs.db) };
      cases[`select by id, ${concurrency} in flight`] = {
        ...result,
        ratio: result.db / result.raw,
        overKysely: result.db / result.kysely,
      };
    }
    return { cases };
  } finally {
    await Promise.all([raw.end(), kysely.destroy(), db.close()]);
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
}

export function dbTable(result: DbBenchResult): string {
  const rows = Object.entries(result.cases).map(
    ([name, r]) =>
      `| ${name} | ${r.raw.toFixed(1)} | ${r.kysely.toFixed(1)} | ${r.db.toFixed(1)} | ${r.ratio.toFixed(3)} | ${r.overKysely.toFixed(3)} |`,
  );
  return [
    '| query | raw pg µs/query | plain Kysely µs/query | Db µs/query | Db / raw pg (goal ≤ 1.1) | Db / plain Kysely |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Median of ${ROUNDS} alternating rounds of ${OPS.toLocaleString('en')} queries, pools of ${POOL} connections each, against the local PostgreSQL.`,
  ].join('\n');
}
