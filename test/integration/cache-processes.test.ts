import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { createCache } from '@lambda-infra/shared/cache';
import { describe, expect, it } from 'vitest';
import { useRedisNamespace } from '../support/redis.ts';

const WORKER = resolve('test/support/cache-worker.ts');
const redis = useRedisNamespace();

function workers(mode: 'lock' | 'getOrSet', processes: number, count: number): Promise<string[]> {
  const startAt = String(Date.now() + 1_500);
  return Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<string>((done, fail) => {
          execFile(
            process.execPath,
            [WORKER],
            {
              env: {
                ...process.env,
                WORKER_MODE: mode,
                REDIS_URL: redis.url,
                NAMESPACE: redis.namespace,
                START_AT: startAt,
                COUNT: String(count),
              },
            },
            (error, stdout, stderr) =>
              error ? fail(new Error(`${error.message}\n${stderr}`)) : done(stdout),
          );
        }),
    ),
  );
}

describe('a cache shared by several processes', () => {
  it('4 processes x 250 increments of one counter under lock() make exactly 1,000', async () => {
    await workers('lock', 4, 250);

    const cache = createCache({ url: redis.url, namespace: redis.namespace });
    expect(await cache.get('counter')).toBe(1_000);
    await cache.close();
  }, 120_000);

  it('100 concurrent getOrSet misses over 4 processes run the loader once', async () => {
    const outputs = await workers('getOrSet', 4, 25);

    const cache = createCache({ url: redis.url, namespace: redis.namespace });
    const loadedBy = outputs.flatMap((o) => JSON.parse(o) as number[]);
    expect(await cache.get('loads')).toBe(1);
    expect(loadedBy).toHaveLength(100);
    expect(new Set(loadedBy).size).toBe(1);
    await cache.close();
  }, 60_000);
});
