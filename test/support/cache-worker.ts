// One of several processes (Lambda containers) sharing a cache, driven by the multi-process tests.
//   WORKER_MODE=lock      -> COUNT read-increment-write cycles of one counter, each under lock()
//   WORKER_MODE=getOrSet  -> COUNT concurrent getOrSet misses of one key; the loader counts its runs in Redis
// Every worker starts at START_AT (epoch ms), so that they really overlap.
import { createCache } from '@lambda-infra/shared/cache';

const { WORKER_MODE, REDIS_URL, NAMESPACE, START_AT, COUNT } = process.env;
const cache = createCache({ url: REDIS_URL!, namespace: NAMESPACE!, commandTimeoutMs: 2_000 });
const count = Number(COUNT);
await cache.ping();
await new Promise((r) => setTimeout(r, Math.max(0, Number(START_AT) - Date.now())));

if (WORKER_MODE === 'lock') {
  for (let i = 0; i < count; i++) {
    const lock = await cache.lock('counter', { ttlMs: 5_000, waitMs: 30_000 });
    const value = (await cache.get<number>('counter')) ?? 0;
    // A read-modify-write that only the lock keeps from losing updates.
    await new Promise((r) => setImmediate(r));
    if (!(await cache.set('counter', value + 1, 600))) throw new Error('set failed');
    if (!(await lock.release())) throw new Error('lost the lock');
  }
} else if (WORKER_MODE === 'getOrSet') {
  const loader = async () => {
    await cache.incr('loads');
    await new Promise((r) => setTimeout(r, 300));
    return { loadedBy: process.pid };
  };
  const values = await Promise.all(
    Array.from({ length: count }, () => cache.getOrSet('shared', loader, { ttlSeconds: 60, waitMs: 5_000 })),
  );
  process.stdout.write(`${JSON.stringify(values.map((v) => v.loadedBy))}\n`);
} else {
  throw new Error(`unknown WORKER_MODE ${WORKER_MODE}`);
}
await cache.close();
