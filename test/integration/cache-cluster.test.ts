import { type Cache, createCache } from '@lambda-infra/shared/cache';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisCluster, redisCluster } from '../support/redis.ts';

// ElastiCache Serverless is cluster mode behind one endpoint; a three-primary cluster on loopback stands in.
describe('the cache in cluster mode', () => {
  let cluster: RedisCluster;
  let cache: Cache;

  beforeAll(async () => {
    cluster = await redisCluster();
    cache = createCache({ url: cluster.url, cluster: true, namespace: 'lambda-infra-test:cluster:' });
  }, 60_000);

  afterAll(async () => {
    await cache?.close();
    await cluster?.dispose();
  });

  it('spreads keys over the nodes, and reads and writes many at once across slots', async () => {
    const entries = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, { i }]));

    expect(await cache.mset(entries)).toBe(true);
    const values = await cache.mget(Object.keys(entries));
    await cache.del('k0', 'k1', 'k2');
    const afterDel = await cache.mget(['k0', 'k1', 'k2', 'k3']);

    expect(values).toEqual(Object.values(entries));
    expect(afterDel).toEqual([undefined, undefined, undefined, { i: 3 }]);
    const sizes = await Promise.all(
      cluster.ports.map(async (port) => {
        const node = createClient({ url: `redis://127.0.0.1:${port}` });
        await node.connect();
        const size = await node.dbSize();
        node.destroy();
        return size;
      }),
    );
    expect(sizes.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('takes locks with fencing, runs getOrSet once, and answers PING', async () => {
    const lock = await cache.lock('job');
    const refused = await cache.lock('job').catch((e: Error) => e.message);
    await lock.release();
    const again = await cache.lock('job');
    let loads = 0;
    const values = await Promise.all(
      Array.from({ length: 10 }, () =>
        cache.getOrSet('shared', async () => {
          loads++;
          return 'value';
        }),
      ),
    );

    expect(refused).toMatch(/not acquired/);
    expect(again.fence).toBe(lock.fence + 1);
    expect(loads).toBe(1);
    expect(values.every((v) => v === 'value')).toBe(true);
    expect(await cache.ping()).toBeGreaterThanOrEqual(0);
    expect(await cache.incr('n')).toBe(1);
    await again.release();
  });
});
