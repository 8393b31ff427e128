// Cache get/set against raw @redis/client in the same run, and the cost of an L1 hit and of a getOrSet hit.
// The raw side does what its users do to store objects: JSON.stringify on set, JSON.parse on get.
import { createCache } from '@lambda-infra/shared/cache';
import { createClient } from '@redis/client';
import { median } from './median.ts';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.env.BENCH_CACHE_ROUNDS ?? 5);
const OPS = Number(process.env.BENCH_CACHE_OPS ?? 20_000);
const HITS = Number(process.env.BENCH_CACHE_HITS ?? 1_000_000);
const VALUE = { id: 42, name: 'order', items: [1, 2, 3], total: 99.5, paid: true };

/** Operations per second of `op`, run `total` times with `concurrency` in flight. */
async function throughput(op: (i: number) => Promise<unknown>, total: number, concurrency: number) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1_000);
}

export interface CacheBenchResult {
  ops: Record<string, { raw: number; cache: number; ratio: number }>;
  l1HitNs: number;
  getOrSetL1HitNs: number;
  getOrSetRedisHitMicros: number;
}

export async function benchCache(): Promise<CacheBenchResult> {
  const namespace = `lambda-infra-bench:${process.pid}:`;
  const raw = createClient({ url: URL });
  await raw.connect();
  const cache = createCache({ url: URL, namespace, commandTimeoutMs: 2_000 });
  await cache.ping();
  const keys = Array.from({ length: 1_000 }, (_, i) => `${namespace}k${i}`);
  const json = JSON.stringify(VALUE);
  for (const key of keys) await raw.set(key, json, { EX: 600 });

  const cases = {
    'get, 1 in flight': {
      raw: (i: number) => raw.get(keys[i % 1_000]!).then((v) => JSON.parse(v as string)),
      cache: (i: number) => cache.get(`k${i % 1_000}`),
      concurrency: 1,
    },
    'set, 1 in flight': {
      raw: (i: number) => raw.set(keys[i % 1_000]!, JSON.stringify(VALUE), { EX: 600 }),
      cache: (i: number) => cache.set(`k${i % 1_000}`, VALUE, 600),
      concurrency: 1,
    },
    'get, 32 in flight': {
      raw: (i: number) => raw.get(keys[i % 1_000]!).then((v) => JSON.parse(v as string)),
      cache: (i: number) => cache.get(`k${i % 1_000}`),
      concurrency: 32,
    },
    'set, 32 in flight': {
      raw: (i: number) => raw.set(keys[i % 1_000]!, JSON.stringify(VALUE), { EX: 600 }),
      cache: (i: number) => cache.set(`k${i % 1_000}`, VALUE, 600),
      concurrency: 32,
    },
  };
  const ops: CacheBenchResult['ops'] = {};
  for (const [name, c] of Object.entries(cases)) {
    await throughput(c.raw, 2_000, c.concurrency);
    await throughput(c.cache, 2_000, c.concurrency);
    const rawRuns: number[] = [];
    const cacheRuns: number[] = [];
    // Alternating rounds, so that drift falls on both sides alike.
    for (let r = 0; r < ROUNDS; r++) {
      rawRuns.push(await throughput(c.raw, OPS, c.concurrency));
      cacheRuns.push(await throughput(c.cache, OPS, c.concurrency));
    }
    const rawOps = median(rawRuns);
    const cacheOps = median(cacheRuns);
    ops[name] = { raw: rawOps, cache: cacheOps, ratio: cacheOps / rawOps };
  }

  const withL1 = createCache({ url: URL, namespace, l1: { ttlMs: 600_000 } });
  await withL1.get('k1');
  await withL1.getOrSet('k2', () => VALUE);
  const perCall = async (op: () => Promise<unknown>) => {
    const runs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const started = performance.now();
      for (let i = 0; i < HITS; i++) await op();
      runs.push(((performance.now() - started) * 1e6) / HITS);
    }
    return median(runs);
  };
  const l1HitNs = await perCall(() => withL1.get('k1'));
  const getOrSetL1HitNs = await perCall(() => withL1.getOrSet('k2', () => VALUE));
  const redisHits: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    for (let i = 0; i < OPS; i++) await cache.getOrSet(`k${i % 1_000}`, () => VALUE);
    redisHits.push(((performance.now() - started) * 1_000) / OPS);
  }

  await raw.del(keys);
  raw.destroy();
  await Promise.all([cache.close(), withL1.close()]);
  return { ops, l1HitNs, getOrSetL1HitNs, getOrSetRedisHitMicros: median(redisHits) };
}

export function cacheTable(result: CacheBenchResult): string {
  const rows = Object.entries(result.ops).map(
    ([name, r]) =>
      `| ${name} | ${Math.round(r.raw).toLocaleString('en')} | ${Math.round(r.cache).toLocaleString('en')} | ${r.ratio.toFixed(3)} |`,
  );
  return [
    '| operation | raw @redis/client ops/s | Cache ops/s | Cache / raw (goal ≥ 0.95) |',
    '|---|---|---|---|',
    ...rows,
    '',
    `L1 hit: ${result.l1HitNs.toFixed(0)} ns per awaited get (goal < 1 µs); getOrSet L1 hit: ${result.getOrSetL1HitNs.toFixed(0)} ns; getOrSet Redis hit: ${result.getOrSetRedisHitMicros.toFixed(1)} µs.`,
    `Median of ${ROUNDS} alternating rounds of ${OPS.toLocaleString('en')} operations (${HITS.toLocaleString('en')} for the hit costs), against the local redis-server.`,
  ].join('\n');
}
