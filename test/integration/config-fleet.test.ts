// Config shared by the fleet through Redis, and SSM's throughput quota seen locally: the endpoint's throttle, the
// share's single flight, SecureStrings kept out of the cache, and what a container does when Redis is gone.
import { randomUUID } from 'node:crypto';
import {
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { type Cache, createCache } from '@lambda-infra/shared/cache';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import type { InfraError } from '@lambda-infra/shared/errors';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { createClient } from '@redis/client';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { forgetSharedConfig } from '../../shared/src/local/twin/twin.ts';
import { failure, useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { deleteRedisKeys, freePort, type RedisServer, useRedisServer } from '../support/redis.ts';

const local = useSsmEndpoint();
const redisUrl = inject('redisUrl');
let emitted: Emitted;
let service: string;
const made: { close(): Promise<void> | void }[] = [];

beforeEach(() => {
  emitted = captureConsole();
  service = `fleet-${randomUUID().slice(0, 8)}`;
});
afterEach(async () => {
  emitted.restore();
  for (const thing of made.splice(0)) await thing.close();
  await deleteRedisKeys(redisUrl, `*${service}*`);
});

const put = (component: string, value: unknown, type: 'String' | 'SecureString' = 'String') =>
  local.ssm.send(
    new PutParameterCommand({
      Name: `/config/test/${service}/${component}`,
      Value: typeof value === 'string' ? value : JSON.stringify(value),
      Type: type,
      Overwrite: true,
    }),
  );

/** Throttles the endpoint at a rate that never refills, and spends its one token: every read after is refused. */
async function refuseEveryRead(): Promise<void> {
  local.endpoint.setThrottle(0.001);
  await local.ssm
    .send(new GetParameterCommand({ Name: `/config/test/${service}/api` }))
    .catch(() => undefined);
}

/** Runs `fn` with the test's redis-server killed or paused, and brings it back after, whatever `fn` did. */
async function whileRedisIs(how: 'killed' | 'paused', server: RedisServer, fn: () => Promise<void>) {
  if (how === 'killed') await server.stop();
  else server.pause();
  try {
    await fn();
  } finally {
    server.resume();
    if (how === 'killed') await server.start();
  }
}

/** A container's SSM client as a function has it: the SDK's own three attempts, its own connections. */
function containerSsm(maxAttempts = 3): SSMClient {
  const client = new SSMClient({
    endpoint: local.endpoint.url,
    region: 'us-east-1',
    maxAttempts,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  made.push({ close: () => client.destroy() });
  return client;
}

function cacheAt(url: string, options: { commandTimeoutMs?: number } = {}): Cache {
  const cache = createCache({
    url,
    namespace: '',
    commandTimeoutMs: options.commandTimeoutMs ?? 300,
    connectTimeoutMs: 300,
  });
  made.push(cache);
  return cache;
}

const quickRetry = { retries: 2, backoff: { base: 20, max: 100 } } as const;

/** One container's config source: its own SSM client and its own connection to the share. */
function container(share: Cache | false, options: { maxAttempts?: number } = {}): ConfigSource {
  return new ConfigSource({
    env: 'test',
    service,
    client: containerSsm(options.maxAttempts),
    environment: {},
    share,
    throttleRetry: quickRetry,
  });
}

/** Every value of every key in a Redis, whatever its type, as text. */
async function everyValue(url: string): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  const values: string[] = [];
  for await (const keys of client.scanIterator({ COUNT: 1_000 })) {
    for (const key of keys) {
      values.push(key);
      const type = await client.type(key);
      if (type === 'string') values.push(String(await client.get(key)));
      else if (type === 'hash') values.push(JSON.stringify(await client.hGetAll(key)));
      else if (type === 'list') values.push(JSON.stringify(await client.lRange(key, 0, -1)));
      else if (type === 'set') values.push(JSON.stringify(await client.sMembers(key)));
      else if (type === 'zset') values.push(JSON.stringify(await client.zRange(key, 0, -1)));
      else if (type === 'stream') values.push(JSON.stringify(await client.xRange(key, '-', '+')));
    }
  }
  client.destroy();
  return values;
}

describe('the local SSM endpoint throttles as SSM does', () => {
  it('answers reads past the rate with ThrottlingException, the three read operations sharing one bucket', async () => {
    await put('api', { maxPayloadBytes: 10 });
    local.endpoint.setThrottle(4);
    local.endpoint.resetCalls();
    const name = `/config/test/${service}/api`;

    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0
          ? local.ssm.send(new GetParameterCommand({ Name: name }))
          : local.ssm.send(new PutParameterCommand({ Name: `${name}-${i}`, Value: '{}', Type: 'String' })),
      ),
    );
    const reads = results.filter((_, i) => i % 2 === 0);
    const writes = results.filter((_, i) => i % 2 === 1);
    const refused = reads.filter((r) => r.status === 'rejected').map((r) => r.reason as Error);

    // Four tokens, six reads: two throttled; writes have their own quota in SSM and are not throttled here.
    expect(reads.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
    expect(refused.map((e) => e.name)).toEqual(['ThrottlingException', 'ThrottlingException']);
    expect(refused[0]?.message).toBe('Rate exceeded');
    expect((refused[0] as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(400);
    expect(writes.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(local.endpoint.throttled('GetParameter')).toBe(2);
    expect(local.endpoint.throttled()).toBe(2);

    const byPath = await failure(
      local.ssm.send(new GetParametersByPathCommand({ Path: `/config/test/${service}` })),
    );
    const byName = await failure(local.ssm.send(new GetParametersCommand({ Names: [name] })));
    expect([byPath.name, byName.name]).toEqual(['ThrottlingException', 'ThrottlingException']);

    local.endpoint.setThrottle(undefined);
    await expect(local.ssm.send(new GetParameterCommand({ Name: name }))).resolves.toBeDefined();
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, '40' as unknown as number])(
    'refuses a throttle of %s, naming the option and the rule',
    async (tps) => {
      await expect(startSsmEndpoint({ throttleTps: tps })).rejects.toThrow(
        /throttleTps must be a positive number of transactions a second/,
      );
      expect(() => local.endpoint.setThrottle(tps)).toThrow(/throttleTps must be a positive number/);
    },
  );
});

describe('config shared by the fleet through the cache', () => {
  it('twenty containers starting at once make one GetParametersByPath between them, and agree', async () => {
    await put('api', { maxPayloadBytes: 2048 });
    await put('config', { ttlSeconds: 60, retryAfterSeconds: 5 });
    local.endpoint.resetCalls();

    const sources = Array.from({ length: 20 }, () => container(cacheAt(redisUrl)));
    const snapshots = await Promise.all(sources.map((s) => s.current()));

    expect(local.endpoint.calls('GetParametersByPath')).toBe(1);
    expect(snapshots.filter((s) => s.origin === 'ssm')).toHaveLength(1);
    expect(new Set(snapshots.map((s) => s.loadedAt)).size).toBe(1);
    for (const snapshot of snapshots) {
      expect(JSON.parse(snapshot.raw.get('api') ?? 'null')).toEqual({ maxPayloadBytes: 2048 });
    }
    expect(sources.every((s) => s.ttlSeconds === 60)).toBe(true);
  });

  it('with SSM throttled at cold start and Redis up, a container takes its config from Redis without an error', async () => {
    await put('api', { maxPayloadBytes: 4096 });
    await container(cacheAt(redisUrl)).current();
    await refuseEveryRead();
    local.endpoint.resetCalls();

    const api = defineConfig({
      component: 'api',
      schema: z.object({ maxPayloadBytes: z.number() }),
      source: container(cacheAt(redisUrl)),
    });

    await expect(api.get()).resolves.toEqual({ maxPayloadBytes: 4096 });
    expect(api.source?.version).toBe(1);
    expect(local.endpoint.calls()).toBe(0);
  });

  it('keeps SecureString values out of every Redis key: each container reads them from SSM by name', async () => {
    const secret = `s3cr3t-${randomUUID()}`;
    await put('api', { maxPayloadBytes: 1 });
    await put('token', { value: secret }, 'SecureString');
    local.endpoint.resetCalls();

    const first = container(cacheAt(redisUrl));
    const loader = await first.current();
    const reader = await container(cacheAt(redisUrl)).current();

    expect([loader.origin, reader.origin]).toEqual(['ssm', 'cache']);
    for (const snapshot of [loader, reader]) {
      expect(JSON.parse(snapshot.raw.get('token') ?? 'null')).toEqual({ value: secret });
    }
    expect(local.endpoint.calls('GetParametersByPath')).toBe(1);
    expect(local.endpoint.calls('GetParameters')).toBe(1);
    const values = await everyValue(redisUrl);
    const shared = values[values.indexOf(first.sharedKey) + 1];
    expect(JSON.parse(shared ?? 'null')).toMatchObject({
      values: { api: '{"maxPayloadBytes":1}' },
      secure: ['token'],
    });
    expect(
      values.filter((v) => v.includes(secret) || v.includes(Buffer.from(secret).toString('base64'))),
    ).toEqual([]);
  });

  it('carries a change made in SSM to every container within the TTL, without a redeploy', async () => {
    await put('config', { ttlSeconds: 1, retryAfterSeconds: 1 });
    await put('api', { maxPayloadBytes: 1 });
    const schema = z.object({ maxPayloadBytes: z.number() });
    const configs = [0, 1, 2].map(() =>
      defineConfig({ component: 'api', schema, source: container(cacheAt(redisUrl)) }),
    );
    for (const config of configs) expect(await config.get()).toEqual({ maxPayloadBytes: 1 });

    await put('api', { maxPayloadBytes: 2 });
    await new Promise((resolve) => setTimeout(resolve, 1_300));

    expect(await Promise.all(configs.map((c) => c.get()))).toEqual([
      { maxPayloadBytes: 2 },
      { maxPayloadBytes: 2 },
      { maxPayloadBytes: 2 },
    ]);
  });

  it('keeps the last good config when the refresh is throttled past every retry', async () => {
    await put('config', { ttlSeconds: 1, retryAfterSeconds: 1 });
    await put('api', { maxPayloadBytes: 7 });
    const source = container(cacheAt(redisUrl), { maxAttempts: 1 });
    const first = await source.current();
    await refuseEveryRead();
    await new Promise((resolve) => setTimeout(resolve, 1_200));

    const after = await source.current();

    expect(after).toBe(first);
    expect(source.lastFailure).toMatchObject({
      type: 'throttled',
      retryable: true,
      code: 'ThrottlingException',
    });
    expect(local.endpoint.throttled('GetParametersByPath')).toBe(quickRetry.retries + 1);
  });

  it.each([
    ['not JSON', '{"v":1,'],
    [
      'JSON of another shape',
      JSON.stringify({ v: 1, loadedAt: 0, values: { api: { maxPayloadBytes: 1 } }, secure: [] }),
    ],
    [
      'a SecureString name that is a path',
      JSON.stringify({ v: 1, loadedAt: 0, values: {}, secure: ['../other/x'] }),
    ],
  ])('does not trust a shared value that is %s: loads from SSM and replaces it', async (_, hostile) => {
    await put('api', { maxPayloadBytes: 3 });
    const source = container(cacheAt(redisUrl));
    const raw = createClient({ url: redisUrl });
    await raw.connect();
    await raw.set(source.sharedKey, hostile, { EX: 60 });

    const snapshot = await source.current();
    const stored = JSON.parse(String(await raw.get(source.sharedKey)));
    raw.destroy();

    expect(snapshot.origin).toBe('ssm');
    expect(JSON.parse(snapshot.raw.get('api') ?? 'null')).toEqual({ maxPayloadBytes: 3 });
    expect(stored).toMatchObject({ v: 1, values: { api: '{"maxPayloadBytes":3}' }, secure: [] });
  });

  it('keeps a shared copy that claims a load in the future no longer than the TTL', async () => {
    await put('config', { ttlSeconds: 1, retryAfterSeconds: 1 });
    await put('api', { maxPayloadBytes: 1 });
    const source = container(cacheAt(redisUrl));
    const raw = createClient({ url: redisUrl });
    await raw.connect();
    const claimed = {
      v: 1,
      loadedAt: Date.now() + 86_400_000,
      values: { api: '{"maxPayloadBytes":1}', config: '{"ttlSeconds":1,"retryAfterSeconds":1}' },
      secure: [],
    };
    await raw.set(source.sharedKey, JSON.stringify(claimed), { PX: 500 });

    const first = await source.current();
    await put('api', { maxPayloadBytes: 2 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const later = await source.current();
    raw.destroy();

    expect(first.origin).toBe('cache');
    expect(first.loadedAt).toBeLessThanOrEqual(Date.now());
    expect(JSON.parse(later.raw.get('api') ?? 'null')).toEqual({ maxPayloadBytes: 2 });
  });

  it('shares through the cache that LAMBDA_INFRA_CACHE_URL names when none is given, and closes it', async () => {
    await put('api', { maxPayloadBytes: 5 });
    const environment = { LAMBDA_INFRA_CACHE_URL: redisUrl };
    const first = new ConfigSource({ env: 'test', service, client: containerSsm(), environment });
    const second = new ConfigSource({ env: 'test', service, client: containerSsm(), environment });
    made.push(first, second);

    expect((await first.current()).origin).toBe('ssm');
    expect((await second.current()).origin).toBe('cache');
    const unshared = new ConfigSource({ env: 'test', service, client: containerSsm(), environment: {} });
    expect((await unshared.current()).origin).toBe('ssm');
  });
});

describe('npm run dev and the shared config', () => {
  it("clears its env's shared copies when it writes the parameters, and no other key", async () => {
    const raw = createClient({ url: redisUrl });
    await raw.connect();
    const ours = [
      `lambda-infra:config:v1:${service}:events-api`,
      `lambda-infra:config:v1:${service}:events-worker`,
    ];
    const others = [`lambda-infra:config:v1:${service}x:events-api`, `${service}:lambda-infra:config:v1`];
    for (const key of [...ours, ...others]) await raw.set(key, '{}', { EX: 60 });
    const warnings: string[] = [];

    await forgetSharedConfig(redisUrl, service, warnings);
    const left = await Promise.all([...ours, ...others].map((key) => raw.exists(key)));
    raw.destroy();
    await forgetSharedConfig(`redis://127.0.0.1:${await freePort()}`, service, warnings);

    expect(left).toEqual([0, 0, 1, 1]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^the shared config in redis:\/\/127\.0\.0\.1:\d+ was not cleared: /);
  });
});

describe('a container whose Redis is down loads from SSM, with backoff while SSM throttles', () => {
  const redis = useRedisServer();

  it.each(['killed', 'paused'] as const)(
    'Redis %s, SSM throttling briefly: retried with backoff until SSM answers',
    async (how) => {
      await put('api', { maxPayloadBytes: 9 });
      const share = cacheAt(redis.server.url);
      await share.ping();
      await whileRedisIs(how, redis.server, async () => {
        local.endpoint.failNext({ operation: 'GetParametersByPath', code: 'ThrottlingException', times: 2 });
        local.endpoint.resetCalls();

        const snapshot = await container(share, { maxAttempts: 1 }).current();

        expect(snapshot.origin).toBe('ssm');
        expect(JSON.parse(snapshot.raw.get('api') ?? 'null')).toEqual({ maxPayloadBytes: 9 });
        expect(local.endpoint.calls('GetParametersByPath')).toBe(3);
      });
    },
  );

  it.each(['killed', 'paused'] as const)(
    'Redis %s, SSM still refusing: the clear retryable error, after the SDK and the backoff tried',
    async (how) => {
      await put('api', { maxPayloadBytes: 9 });
      const share = cacheAt(redis.server.url);
      await share.ping();
      await whileRedisIs(how, redis.server, async () => {
        await refuseEveryRead();
        local.endpoint.resetCalls();

        const error = (await failure(container(share, { maxAttempts: 2 }).current())) as InfraError;

        expect(error).toMatchObject({
          name: 'InfraError',
          type: 'throttled',
          component: 'config',
          retryable: true,
          code: 'ThrottlingException',
        });
        expect(error.message).toMatch(
          new RegExp(
            `could not load config from SSM path /config/test/${service}: SSM throttled GetParametersByPath \\(ThrottlingException\\) on 3 tries over \\d+ ms`,
          ),
        );
        // Three tries of the library, each with the SDK's two attempts.
        expect(local.endpoint.throttled('GetParametersByPath')).toBe(6);
      });
    },
  );

  it('SSM refusing at cold start with no Redis: the HTTP handler answers 503 with Retry-After, not a 500', async () => {
    await put('api', { maxPayloadBytes: 9 });
    await refuseEveryRead();
    const api = defineConfig({
      component: 'api',
      schema: z.object({ maxPayloadBytes: z.number() }),
      source: container(false, { maxAttempts: 1 }),
    });
    const handler = createHttpHandler({
      config: { api },
      handle: (_request, { config }) => ({ statusCode: 200, body: config.api }),
    });

    const response = await handler(httpEvent({ method: 'GET', path: '/x' }), lambdaContext());

    expect(response.statusCode).toBe(503);
    expect(Number(response.headers?.['retry-after'])).toBeGreaterThan(0);
    expect(response.body).not.toContain('Throttling');
    expect(local.endpoint.throttled('GetParametersByPath')).toBe(quickRetry.retries + 1);
  });

  it('a cache URL with nothing listening: config from SSM, no error', async () => {
    await put('api', { maxPayloadBytes: 11 });
    const nobody = `redis://127.0.0.1:${await freePort()}`;

    const snapshot = await container(cacheAt(nobody)).current();

    expect(JSON.parse(snapshot.raw.get('api') ?? 'null')).toEqual({ maxPayloadBytes: 11 });
  });
});
