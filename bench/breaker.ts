// Closed-state overhead per call of createBreaker (memory store and Redis store) against cockatiel and
// opossum in the same run, and memory per instance.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { consecutive, createBreaker, failureRate, redisStore } from '@lambda-infra/shared/breaker';
import { createCache } from '@lambda-infra/shared/cache';
import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { median } from './median.ts';

const ROUNDS = Number(process.env.BENCH_BREAKER_ROUNDS ?? 5);
const CALLS = Number(process.env.BENCH_BREAKER_CALLS ?? 1_000_000);
const INSTANCES = 10_000;
const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function heapPerInstance(make: () => unknown, dispose: (made: unknown) => void = () => {}): number {
  const kept: unknown[] = [];
  for (let i = 0; i < 3; i++) gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < INSTANCES; i++) kept.push(make());
  for (let i = 0; i < 3; i++) gc();
  const bytes = (process.memoryUsage().heapUsed - before) / INSTANCES;
  for (const made of kept) dispose(made);
  return bytes;
}

export interface BreakerBenchResult {
  overheadNs: Record<string, number>;
  bytesPerInstance: Record<string, number>;
}

export async function benchBreaker(): Promise<BreakerBenchResult> {
  const work = () => Promise.resolve(1);
  const cache = createCache({ url: URL, namespace: `lambda-infra-bench:${process.pid}:` });
  await cache.ping();
  const memory = createBreaker({ name: 'bench', strategy: consecutive(5) });
  const shared = createBreaker({
    name: 'bench',
    strategy: consecutive(5),
    store: redisStore(cache, { syncMs: 1_000 }),
  });
  await shared.sync();
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(5) });
  // Opossum's default 10 s timeout arms a timer per call; the others have none, so it is off here too.
  const opossum = new Opossum(work, { timeout: false, resetTimeout: 5_000 });

  const subjects: Record<string, () => Promise<unknown>> = {
    bare: work,
    'createBreaker, memory store': () => memory.execute(work),
    'createBreaker, Redis store': () => shared.execute(work),
    cockatiel: () => cockatiel.execute(work),
    opossum: () => opossum.fire(),
  };
  const perCall: Record<string, number[]> = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
  for (const run of Object.values(subjects)) for (let i = 0; i < 50_000; i++) await run();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of Object.entries(subjects)) {
      const started = performance.now();
      for (let i = 0; i < CALLS; i++) await run();
      perCall[name]!.push(((performance.now() - started) * 1e6) / CALLS);
    }
  }
  const bare = median(perCall.bare!);
  const overheadNs = Object.fromEntries(
    Object.entries(perCall)
      .filter(([name]) => name !== 'bare')
      .map(([name, runs]) => [name, median(runs) - bare]),
  );

  const bytesPerInstance = {
    'createBreaker, memory store': heapPerInstance(() =>
      createBreaker({ name: 'b', strategy: consecutive(5) }),
    ),
    'createBreaker, failureRate': heapPerInstance(() =>
      createBreaker({
        name: 'b',
        strategy: failureRate({ threshold: 0.5, windowMs: 10_000, minCalls: 10 }),
      }),
    ),
    cockatiel: heapPerInstance(() =>
      circuitBreaker(handleAll, { halfOpenAfter: 5_000, breaker: new ConsecutiveBreaker(5) }),
    ),
    opossum: heapPerInstance(
      () => new Opossum(work, { timeout: false, resetTimeout: 5_000 }),
      (made) => (made as Opossum<number>).shutdown(),
    ),
  };
  opossum.shutdown();
  await cache.close();
  return { overheadNs, bytesPerInstance };
}

export function breakerTable(result: BreakerBenchResult): string {
  const cockatiel = result.overheadNs.cockatiel!;
  const rows = Object.entries(result.overheadNs).map(
    ([name, ns]) =>
      `| ${name} | ${ns.toFixed(0)} | ${(ns / cockatiel).toFixed(2)} | ${result.bytesPerInstance[name]?.toFixed(0) ?? '—'} |`,
  );
  // Strategies measured for memory only: the closed-state call path is the same.
  for (const [name, bytes] of Object.entries(result.bytesPerInstance)) {
    if (!(name in result.overheadNs)) rows.push(`| ${name} | — | — | ${bytes.toFixed(0)} |`);
  }
  return [
    '| breaker | closed-state overhead, ns per call | / cockatiel (goal ≤ 1 memory store, ≤ 1.5 Redis store) | bytes per instance (goal < 1024) |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Overhead over a bare awaited call, median of ${ROUNDS} interleaved rounds of ${CALLS.toLocaleString('en')} calls; memory: heap per instance over ${INSTANCES.toLocaleString('en')} instances.`,
  ].join('\n');
}
