import { consecutive, createBreaker } from '@lambda-infra/shared/breaker';
import { type Cache, cacheHealthCheck, createCache } from '@lambda-infra/shared/cache';
import { InfraError } from '@lambda-infra/shared/errors';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { createHealth } from '@lambda-infra/shared/health';
import { createClient } from '@redis/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failure } from '../support/aws.ts';
import { captureConsole } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { type RedisTlsServer, redisTlsServer, useRedisNamespace, useRedisServer } from '../support/redis.ts';

const redis = useRedisNamespace();
const opened: Cache[] = [];

function cache(options: Partial<Parameters<typeof createCache>[0]> = {}) {
  const made = createCache({ url: redis.url, namespace: redis.namespace, ...options });
  opened.push(made);
  return made;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

describe('the cache interface on Redis', () => {
  it('keeps the JSON types of what it stores, under its namespace, with a TTL', async () => {
    const c = cache({ defaultTtlSeconds: 120 });
    const value = { id: 7, name: 'x', tags: ['a', 'b'], active: true, parent: null, ratio: 0.25 };

    await c.set('order', value);
    await c.set('count', 42, 30);
    await c.set('flag', false);

    expect(await c.get('order')).toEqual(value);
    expect(await c.get('count')).toBe(42);
    expect(await c.get('flag')).toBe(false);
    expect(await c.get('absent')).toBeUndefined();
    expect(await c.ttl('count')).toBeLessThanOrEqual(30);
    expect(await c.ttl('order')).toBeGreaterThan(100);
    const raw = createClient({ url: redis.url });
    await raw.connect();
    expect(await raw.get(`${redis.namespace}count`)).toBe('42');
    raw.destroy();
  });

  it('deletes, and reads and writes many at once', async () => {
    const c = cache();

    await c.mset({ a: 1, b: { two: 2 }, c: 'three' });
    const before = await c.mget(['a', 'b', 'c', 'none']);
    await c.del('a', 'c');
    const after = await c.mget(['a', 'b', 'c']);

    expect(before).toEqual([1, { two: 2 }, 'three', undefined]);
    expect(after).toEqual([undefined, { two: 2 }, undefined]);
  });

  it('keeps hashes, sets and counters', async () => {
    const c = cache();

    await c.hset('user:1', { name: 'Ada', age: 36, admin: true });
    await c.sadd('tags', 'a', 'b', 3);
    await c.srem('tags', 'b');
    const n1 = await c.incr('hits');
    const n2 = await c.incr('hits', 5);
    await c.expire('hits', 10);

    expect(await c.hget('user:1', 'age')).toBe(36);
    expect(await c.hgetall('user:1')).toEqual({ name: 'Ada', age: 36, admin: true });
    expect((await c.smembers('tags')).sort()).toEqual([3, 'a'].sort());
    expect([n1, n2]).toEqual([1, 6]);
    expect(await c.ttl('hits')).toBeGreaterThan(0);
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
  });

  it('serves every command of its first moment, when the connection is still being made', async () => {
    const c = cache();

    const stored = await Promise.all(Array.from({ length: 20 }, (_, i) => c.set(`first:${i}`, i)));
    const read = await cache().mget(Array.from({ length: 20 }, (_, i) => `first:${i}`));

    expect(stored.every(Boolean)).toBe(true);
    expect(read).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('refuses a value that is not JSON, naming the key', async () => {
    const c = cache();

    const error = await failure(c.set('nothing', undefined));

    expect(error).toBeInstanceOf(InfraError);
    expect(error.message).toContain('"nothing"');
  });
});

describe('the in-process level', () => {
  it('answers a repeated get without Redis, and a set or del through this container clears it', async () => {
    const c = cache({ l1: { ttlMs: 60_000 } });
    const other = cache();
    await c.set('k', 1);

    await c.get('k');
    await other.set('k', 2); // another container: this L1 still has 1 until its TTL
    const stale = await c.get('k');
    await c.set('k', 3);
    const afterOwnSet = await c.get('k');
    await c.del('k');
    const afterOwnDel = await c.get('k');

    expect(stale).toBe(1);
    expect(afterOwnSet).toBe(3);
    expect(afterOwnDel).toBeUndefined();
    expect(c.stats().l1.hits).toBeGreaterThanOrEqual(2);
  });

  it('expires entries after its TTL', async () => {
    let now = 1_000;
    const c = cache({ l1: { ttlMs: 1_000 }, now: () => now });
    const other = cache();
    await c.set('k', 'old');
    await other.set('k', 'new');

    const before = await c.get('k');
    now += 1_001;
    const after = await c.get('k');

    expect([before, after]).toEqual(['old', 'new']);
  });

  it('hands out frozen values, so one caller cannot change what the next one gets', async () => {
    const c = cache({ l1: {} });
    await c.set('obj', { list: [1, 2] });

    const value = (await c.get<{ list: number[] }>('obj'))!;

    expect(() => value.list.push(3)).toThrow(TypeError);
  });
});

describe('getOrSet', () => {
  it('runs the loader once for concurrent misses in one process, and stores the value', async () => {
    const c = cache();
    let loads = 0;
    const loader = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 50));
      return { fresh: true };
    };

    const values = await Promise.all(
      Array.from({ length: 25 }, () => c.getOrSet('item', loader, { ttlSeconds: 60 })),
    );
    const later = await c.getOrSet('item', loader);

    expect(loads).toBe(1);
    expect(values.every((v) => v.fresh)).toBe(true);
    expect(later).toEqual({ fresh: true });
    expect(await c.ttl('item')).toBeGreaterThan(50);
  });

  it('waits for the container that holds the load lock, then takes its value', async () => {
    const a = cache();
    const b = cache();
    const lock = await a.lock('load:item');
    const waiting = b.getOrSet('item', () => 'from b', { waitMs: 2_000 });

    await new Promise((r) => setTimeout(r, 100));
    await a.set('item', 'from a');
    await lock.release();

    expect(await waiting).toBe('from a');
  });

  it('loads itself when the lock holder does not deliver within waitMs', async () => {
    const a = cache();
    const b = cache();
    await a.lock('load:item', { ttlMs: 5_000 });

    const value = await b.getOrSet('item', () => 'from b', { waitMs: 150 });

    expect(value).toBe('from b');
    expect(await b.get('item')).toBe('from b');
  });

  it('takes a value that is not JSON (written by something else) for a miss, and replaces it', async () => {
    const c = cache();
    const raw = createClient({ url: redis.url });
    await raw.connect();
    await raw.set(`${redis.namespace}item`, '{"half": ', { EX: 60 });

    const value = await c.getOrSet('item', () => ({ whole: true }), { ttlSeconds: 60 });
    const stored = await raw.get(`${redis.namespace}item`);
    raw.destroy();

    expect(value).toEqual({ whole: true });
    expect(stored).toBe('{"whole":true}');
  });

  it('refreshes ahead of expiry in the background', async () => {
    const c = cache();
    let version = 0;
    const loader = () => ++version;
    await c.set('v', 0, 10);

    const served = await c.getOrSet('v', loader, { ttlSeconds: 10, refreshAhead: 0.5 });
    await c.expire('v', 3); // most of the TTL is gone
    const stillServed = await c.getOrSet('v', loader, { ttlSeconds: 10, refreshAhead: 0.5 });
    for (let i = 0; i < 50 && (await c.get('v')) !== 1; i++) await new Promise((r) => setTimeout(r, 20));

    expect([served, stillServed]).toEqual([0, 0]);
    expect(await c.get('v')).toBe(1);
    expect(await c.ttl('v')).toBeGreaterThan(5);
  });
});

describe('lock', () => {
  it('gives one owner at a time, with a fencing number that grows', async () => {
    const a = cache();
    const b = cache();

    const first = await a.lock('job', { ttlMs: 5_000 });
    const refused = await failure(b.lock('job', { waitMs: 100 }));
    await first.release();
    const second = await b.lock('job');

    expect(refused).toBeInstanceOf(InfraError);
    expect(refused).toMatchObject({ type: 'timeout', code: 'LOCK_NOT_ACQUIRED', component: 'cache' });
    expect(refused.message).toContain('"job"');
    expect(second.fence).toBe(first.fence + 1);
    await second.release();
  });

  it('releases and extends only for its owner', async () => {
    const a = cache();
    const b = cache();
    const stale = await a.lock('job', { ttlMs: 100 });
    await new Promise((r) => setTimeout(r, 150));
    const current = await b.lock('job', { ttlMs: 5_000 });

    expect(await stale.release()).toBe(false);
    expect(await stale.extend(10_000)).toBe(false);
    expect(await current.extend(20_000)).toBe(true);
    await expect(a.lock('job')).rejects.toThrow(/not acquired/);
    expect(await current.release()).toBe(true);
  });

  it('waits up to waitMs for a lock that is released meanwhile', async () => {
    const a = cache();
    const b = cache();
    const held = await a.lock('job');
    setTimeout(() => void held.release(), 100);

    const taken = await b.lock('job', { waitMs: 2_000 });

    expect(taken.fence).toBe(held.fence + 1);
    await taken.release();
  });
});

describe('health and stats', () => {
  it('reports the PING latency, and counts hits and misses per level', async () => {
    const c = cache({ l1: {} });
    await c.set('k', 1);
    await c.get('k');
    await c.get('missing');

    const report = await createHealth([cacheHealthCheck(c)]).check();
    const stats = c.stats();

    expect(report.status).toBe('healthy');
    expect(report.components[0]?.message).toMatch(/^PING \d+\.\d ms$/);
    expect(stats.l1).toMatchObject({ hits: 1, misses: 1 });
    expect(stats.redis).toMatchObject({ hits: 0, misses: 1, errors: 0 });
    expect(stats.redis.commands).toBeGreaterThanOrEqual(3);
  });
});

describe('when Redis goes away and comes back', () => {
  const test = useRedisServer();

  it('serves misses and the loader while down, never waits past the timeouts, and recovers by itself', async () => {
    const c = cache({
      url: test.server.url,
      commandTimeoutMs: 200,
      connectTimeoutMs: 300,
      maxReconnectDelayMs: 100,
    });
    const health = createHealth([cacheHealthCheck(c)]);
    await c.set('k', 'before');
    const before = await c.get('k');

    await test.server.stop();
    const started = performance.now();
    const whileDown = await c.get('k');
    const stored = await c.set('k', 'during');
    const loaded = await c.getOrSet('other', () => 'from the loader');
    const downFor = performance.now() - started;
    const downHealth = await health.check();
    const incr = await failure(c.incr('n'));

    await test.server.start();
    let after: unknown;
    for (let i = 0; i < 100 && after === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await c.set('k', 'after');
      after = await c.get('k');
    }

    expect(before).toBe('before');
    expect(whileDown).toBeUndefined();
    expect(stored).toBe(false);
    expect(loaded).toBe('from the loader');
    // Bound by the timeouts, not by a reconnection (which never comes while the server is down); how fast on a
    // given machine is the benchmark's to say. test/integration/cache-hangs.test.ts bounds each command.
    expect(downFor).toBeLessThan(3 * (200 + 300) + 2_000);
    expect(downHealth.status).toBe('degraded');
    expect(incr).toMatchObject({ type: 'connection', retryable: true, component: 'cache' });
    expect(after).toBe('after');
    expect(c.stats().redis.errors).toBeGreaterThan(0);
  });

  it('opens its circuit after repeated failures, then serves misses and the loader without asking Redis', async () => {
    const breaker = createBreaker({ name: 'cache', strategy: consecutive(2), openMs: 300 });
    const c = cache({ url: test.server.url, breaker, connectTimeoutMs: 300, maxReconnectDelayMs: 50 });
    await c.set('k', 'v');

    await test.server.stop();
    await c.get('k');
    await c.get('k');
    const read = await c.get('k');
    const stored = await c.set('k', 'w');
    const loaded = await c.getOrSet('k', () => 'loader');
    const whileOpen = { state: breaker.state, rejections: breaker.stats().rejections };

    await test.server.start();
    await new Promise((r) => setTimeout(r, 350));
    let after: unknown;
    for (let i = 0; i < 50 && after !== 'back'; i++) {
      await c.set('k', 'back');
      after = await c.get('k');
      if (after !== 'back') await new Promise((r) => setTimeout(r, 50));
    }

    expect([read, stored, loaded]).toEqual([undefined, false, 'loader']);
    expect(whileOpen.state).toBe('open');
    // The read, the write and getOrSet's read were refused by the circuit, not tried on the connection.
    expect(whileOpen.rejections).toBeGreaterThanOrEqual(3);
    expect(after).toBe('back');
    expect(breaker.state).toBe('closed');
  });

  it('answers the first use within the connect timeout when Redis is down at a cold start', async () => {
    await test.server.stop();
    const c = cache({ url: test.server.url, connectTimeoutMs: 200, maxReconnectDelayMs: 100 });

    const value = await c.getOrSet('k', () => 'loaded');

    expect(value).toBe('loaded');
    await test.server.start();
  });
});

describe('metrics', () => {
  it('records hits and misses per level and the command latency once per invocation of a handler', async () => {
    const c = cache({ l1: {} });
    await c.set('k', 1);
    const handler = createHttpHandler({
      handle: async () => {
        await c.get('k');
        await c.get('k');
        await c.get('nope');
        return { statusCode: 200, body: {} };
      },
    });
    const idle = createHttpHandler({ handle: () => ({ statusCode: 200, body: {} }) });
    const emitted = captureConsole();

    await handler(httpEvent(), lambdaContext());
    const first = emitted.metrics().filter((m) => m.name.startsWith('Cache'));
    await idle(httpEvent(), lambdaContext());
    const all = emitted.metrics().filter((m) => m.name.startsWith('Cache'));
    emitted.restore();

    expect(first).toEqual(
      expect.arrayContaining([
        { name: 'CacheHits', value: 2, dimensions: expect.objectContaining({ level: 'L1' }) },
        { name: 'CacheMisses', value: 1, dimensions: expect.objectContaining({ level: 'L1' }) },
        { name: 'CacheMisses', value: 1, dimensions: expect.objectContaining({ level: 'Redis' }) },
        expect.objectContaining({ name: 'CacheCommandLatency' }),
      ]),
    );
    expect(first.some((m) => m.name === 'CacheErrors')).toBe(false);
    expect(all).toHaveLength(first.length);
  });
});

describe('over TLS', () => {
  let server: RedisTlsServer;

  beforeAll(async () => {
    server = await redisTlsServer();
  }, 30_000);

  afterAll(async () => {
    await server.dispose();
  });

  it('works over rediss:// with the CA it trusts, and refuses a certificate it cannot verify', async () => {
    const trusted = cache({ url: server.url, tlsCaPem: server.caPem });
    const untrusted = cache({ url: server.url, connectTimeoutMs: 300 });

    const stored = await trusted.set('k', { secure: true });
    const read = await trusted.get('k');
    const refused = await untrusted.get('k');
    const refusedPing = await failure(untrusted.ping());

    expect([stored, read]).toEqual([true, { secure: true }]);
    expect(refused).toBeUndefined();
    expect(refusedPing).toBeInstanceOf(InfraError);
  });
});
