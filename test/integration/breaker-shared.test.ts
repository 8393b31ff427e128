import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { consecutive, createBreaker, redisStore } from '@lambda-infra/shared/breaker';
import { createCache } from '@lambda-infra/shared/cache';
import { InfraError } from '@lambda-infra/shared/errors';
import { describe, expect, it } from 'vitest';
import { useRedisNamespace, useRedisServer } from '../support/redis.ts';

const WORKER = resolve('test/support/breaker-worker.ts');
const redis = useRedisNamespace();
const down = () => Promise.reject(new InfraError('refused', { type: 'connection', component: 'dependency' }));

function worker(env: Record<string, string>): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [WORKER],
      { env: { ...process.env, REDIS_URL: redis.url, NAMESPACE: redis.namespace, ...env } },
      // The last line is the worker's answer; its log and metric lines come before it.
      (error, stdout, stderr) =>
        error ? fail(new Error(`${error.message}\n${stderr}`)) : done(stdout.trim().split('\n').at(-1) ?? ''),
    );
  });
}

describe('a circuit shared through Redis by several processes', () => {
  it('failures in process A open the circuit in process B within syncMs', async () => {
    const syncMs = 200;
    const startAt = Date.now() + 1_500;
    const watching = worker({ WORKER_MODE: 'watch', SYNC_MS: String(syncMs), START_AT: String(startAt) });
    const failing = worker({ WORKER_MODE: 'fail', SYNC_MS: String(syncMs), START_AT: String(startAt + 500) });

    const [refusedAt, openedAt] = (await Promise.all([watching, failing])).map(Number) as [number, number];

    // B refuses only after A opened, and does (within its syncs; how soon is the benchmark's to say).
    expect(refusedAt).toBeGreaterThanOrEqual(openedAt);
    expect(Number.isFinite(refusedAt)).toBe(true);
  }, 30_000);

  it('four processes in half-open: exactly one probe reaches the dependency per probe round', async () => {
    const cache = createCache({ url: redis.url, namespace: redis.namespace });
    const opener = createBreaker({
      name: 'dependency',
      strategy: consecutive(3),
      openMs: 600,
      store: redisStore(cache, { syncMs: 100 }),
    });
    for (let i = 0; i < 3; i++) await opener.execute(down).catch(() => {});
    await opener.sync();

    const ends = await Promise.all(
      Array.from({ length: 4 }, () =>
        worker({
          WORKER_MODE: 'probe',
          SYNC_MS: '100',
          START_AT: String(Date.now() + 200),
          DURATION_MS: '3000',
        }),
      ),
    );
    const probes = (await cache.script(
      "return redis.call('LRANGE', KEYS[1], 0, -1)",
      ['probes'],
      [],
    )) as string[];
    const perRound = new Map<string, number>();
    for (const round of probes) perRound.set(round, (perRound.get(round) ?? 0) + 1);

    await opener.sync();
    expect(opener.state).toBe('closed');
    // Round one finds the dependency down and reopens the circuit; round two finds it back and closes it.
    expect(perRound.size).toBe(2);
    expect([...perRound.values()]).toEqual([1, 1]);
    expect(ends).toEqual(['closed', 'closed', 'closed', 'closed']);
    await cache.close();
  }, 30_000);
});

describe('when Redis stops mid-run', () => {
  const test = useRedisServer();

  it('every breaker goes on deciding from its own state, and no call waits on Redis', async () => {
    const cache = createCache({
      url: test.server.url,
      namespace: 'test:',
      commandTimeoutMs: 1_000,
      maxReconnectDelayMs: 100,
    });
    const breakers = ['a', 'b', 'c'].map((name) =>
      createBreaker({
        name,
        strategy: consecutive(3),
        openMs: 100,
        store: redisStore(cache, { syncMs: 10 }),
      }),
    );
    for (const b of breakers) await b.execute(async () => 'ok');

    await test.server.stop();
    const slowest: number[] = [];
    const timed = async (call: () => Promise<unknown>) => {
      const started = performance.now();
      await call().catch(() => {});
      slowest.push(performance.now() - started);
    };
    for (const b of breakers) for (let i = 0; i < 5; i++) await timed(() => b.execute(down));
    const whileOpen = breakers.map((b) => b.state);
    await new Promise((r) => setTimeout(r, 120));
    for (const b of breakers) await timed(() => b.execute(async () => 'ok'));
    const afterProbe = breakers.map((b) => b.state);

    expect(whileOpen).toEqual(['open', 'open', 'open']);
    expect(afterProbe).toEqual(['closed', 'closed', 'closed']);
    // The cache fails at once while disconnected, so no call waits out its 1 s command timeout.
    expect(Math.max(...slowest)).toBeLessThan(1_000);
    await cache.close();
  });
});
