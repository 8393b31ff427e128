import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, startLocalDatabase } from '@lambda-infra/shared/local/twin/services';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../support/sqs.ts';
import { type DevProcess, startDev } from '../support/twin.ts';

// The twin and its database when things go wrong: the twin killed outright (SIGKILL: no handler runs) and
// started again on the same folder, and an embedded PostgreSQL that cannot start, which falls back to PGlite.
const STATE = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-killed-'));
chmodSync(STATE, 0o755);
const started: DevProcess[] = [];
const dev = async (stateDir: string) => {
  const twin = await startDev(stateDir);
  started.push(twin);
  return twin;
};

afterAll(() => {
  for (const twin of started) twin.kill();
  rmSync(STATE, { recursive: true, force: true });
});

describe('a twin that was killed', () => {
  it('is cleaned up after by the next start on its folder, which then runs as before', async () => {
    const first = await dev(STATE);
    const posted = await fetch(`${first.state.http}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'killed.test', source: 'test', payload: {} }),
    });
    const { id } = (await posted.json()) as { id: string };
    await until(async () => (await fetch(`${first.state.http}/events/${id}`)).status === 200, 30_000);
    const others = first.state.pids.filter((p) => p !== first.state.pid);
    // The twin alone, as the OOM killer or `kill -9` would: none of its handlers run.
    process.kill(first.state.pid, 'SIGKILL');
    await until(() => !isAlive(first.state.pid));

    const second = await dev(STATE);
    try {
      // Nothing of the first is left: its redis-server was stopped, its containers went with their parent, and
      // its PostgreSQL was shut down through its data folder before the new one started.
      await until(() => others.every((pid) => !isAlive(pid)), 10_000);
      expect(second.log()).toMatch(
        /stopped \S*redis-server \(pid \d+\), left running by a twin that was killed/,
      );
      // The database kept the event.
      const stored = await fetch(`${second.state.http}/events/${id}`);
      expect(stored.status).toBe(200);
      expect(await stored.json()).toMatchObject({ id, type: 'killed.test' });
    } finally {
      expect(await second.interrupt()).toBe('0');
    }
  }, 240_000);

  it('refuses a second twin on a folder whose twin still runs, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-twice-'));
    chmodSync(dir, 0o755);
    try {
      const first = await dev(dir);
      const second = spawn(
        process.execPath,
        ['shared/bin/lambda-infra.ts', 'dev', '--port', '0', '--state-dir', dir],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      second.stderr!.on('data', (c: Buffer) => (output += c));
      second.stdout!.on('data', (c: Buffer) => (output += c));
      const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
      expect(code).toBe(1);
      expect(output).toContain(`already runs from ${join(dir, 'dev')} (pid ${first.state.pid}`);
      expect(await first.interrupt()).toBe('0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('a twin whose cache or database is paused', () => {
  it('keeps answering with the cache paused, and answers 503 with Retry-After while the database is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-paused-'));
    chmodSync(dir, 0o755);
    const twin = await dev(dir);
    const pidOf = (program: RegExp) =>
      twin.state.pids.find((pid) => {
        try {
          return program.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
        } catch {
          return false;
        }
      })!;
    const redis = pidOf(/redis-server/);
    // The postmaster and its backends: pausing the postmaster alone leaves open connections answering.
    const postmaster = pidOf(/postgres/);
    const postgres = () => [
      postmaster,
      ...spawnSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)])
        .stdout.toString()
        .split('\n')
        .map(Number)
        .filter(Boolean),
    ];
    const signal = (pids: number[], name: NodeJS.Signals) => {
      for (const pid of pids) {
        try {
          process.kill(pid, name);
        } catch {}
      }
    };
    const post = (n: number) =>
      fetch(`${twin.state.http}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'paused.test', source: 'test', payload: { n } }),
      });
    try {
      expect((await post(0)).status).toBe(202);
      process.kill(redis, 'SIGSTOP');
      const started = Date.now();
      const posted = await post(1);
      expect(posted.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(5_000);
      const { id } = (await posted.json()) as { id: string };
      // Stored and read back through the database while the cache does not answer.
      await until(async () => (await fetch(`${twin.state.http}/events/${id}`)).status === 200, 30_000);
      process.kill(redis, 'SIGCONT');

      const paused = postgres();
      signal(paused, 'SIGSTOP');
      const read = await fetch(`${twin.state.http}/events/00000000-0000-4000-8000-000000000000`);
      expect(read.status).toBe(503);
      expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
      const health = await fetch(`${twin.state.http}/health`);
      expect(health.status).toBe(503);
      signal(paused, 'SIGCONT');
      await until(async () => (await fetch(`${twin.state.http}/health`)).status === 200, 30_000);
    } finally {
      signal([redis, ...postgres()], 'SIGCONT');
      expect(await twin.interrupt()).toBe('0');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the local database', () => {
  it('falls back to PGlite when the embedded PostgreSQL cannot start, and serves concurrent transactions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lambda-infra-db-fallback-'));
    chmodSync(dir, 0o755);
    // A data folder from a PostgreSQL version this one cannot read.
    mkdirSync(join(dir, 'postgres'));
    writeFileSync(join(dir, 'postgres', 'PG_VERSION'), '9\n');
    const reasons: string[] = [];
    const db = await startLocalDatabase({
      dataDir: dir,
      database: 'events',
      onFallback: (why) => reasons.push(why),
    });
    try {
      expect(db.description).toMatch(/^PGlite on 127\.0\.0\.1:\d+/);
      expect(reasons).toEqual([expect.stringMatching(/^embedded PostgreSQL did not start: \S/)]);
      const pool = new pg.Pool({
        host: db.host,
        port: db.port,
        user: db.user,
        database: db.database,
        max: 4,
      });
      await pool.query('create table t (n int primary key)');
      await Promise.all(
        [1, 2, 3, 4].map(async (n) => {
          const client = await pool.connect();
          try {
            await client.query('begin isolation level serializable');
            await client.query('insert into t values ($1)', [n]);
            await client.query('commit');
          } finally {
            client.release();
          }
        }),
      );
      expect((await pool.query('select count(*)::int as n from t')).rows[0]).toEqual({ n: 4 });
      await pool.end();
    } finally {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
