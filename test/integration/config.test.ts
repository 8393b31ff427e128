import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { ConfigSource, configFreshnessCheck, defineConfig } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import { createHealth } from '@lambda-infra/shared/health';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { failure, ssmClient, useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';

let now: number;
let emitted: Emitted;

const local = useSsmEndpoint();

const PATH = '/config/test/orders';

const cacheSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  defaultTtl: z.number().int().positive(),
  tls: z.boolean(),
});

async function put(component: string, value: unknown, type: 'String' | 'SecureString' = 'String') {
  await local.ssm.send(
    new PutParameterCommand({
      Name: `${PATH}/${component}`,
      Value: typeof value === 'string' ? value : JSON.stringify(value),
      Type: type,
      Overwrite: true,
    }),
  );
}

function source(environment: NodeJS.ProcessEnv = {}) {
  return new ConfigSource({ env: 'test', service: 'orders', client: local.ssm, now: () => now, environment });
}

beforeEach(() => {
  now = 1_000_000;
  emitted = captureConsole();
});

afterEach(() => emitted.restore());

describe('defineConfig', () => {
  it('lays SSM over defaults and environment overrides over SSM', async () => {
    await put('cache', { host: 'cache.internal', defaultTtl: 60 });
    const cache = defineConfig({
      component: 'cache',
      schema: cacheSchema,
      defaults: { port: 6379, defaultTtl: 30, tls: true },
      source: source({ CONFIG__CACHE__DEFAULT_TTL: '5', CONFIG__CACHE__TLS: 'false' }),
    });

    const value = await cache.get();

    expect(value).toEqual({ host: 'cache.internal', port: 6379, defaultTtl: 5, tls: false });
  });

  it('peek() gives the value at once only while get() would: within the TTL, after the newest load', async () => {
    await put('cache', { host: 'h', port: 1, defaultTtl: 1, tls: true });
    const shared = source();
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: shared });
    const before = cache.peek?.();
    await cache.get();
    const within = cache.peek?.();
    now += 60_001;
    const stale = cache.peek?.();
    await put('cache', { host: 'h2', port: 1, defaultTtl: 1, tls: true });
    const other = defineConfig({ component: 'other', schema: z.object({}), source: shared });
    await other.get(); // loads the source again: cache has not taken that load yet
    const behind = cache.peek?.();

    expect([before, stale, behind]).toEqual([undefined, undefined, undefined]);
    expect(within).toEqual({ host: 'h', port: 1, defaultTtl: 1, tls: true });
    expect(await cache.get()).toMatchObject({ host: 'h2' });
    expect(cache.peek?.()).toMatchObject({ host: 'h2' });
  });

  it('makes no SSM call for a warm get() within the TTL, and one after it', async () => {
    await put('cache', { host: 'h', port: 1, defaultTtl: 1, tls: true });
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: source() });
    await cache.get();
    local.endpoint.resetCalls();

    for (let i = 0; i < 100; i++) {
      now += 500;
      await cache.get();
    }
    const withinTtl = local.endpoint.calls();
    now += 60_000;
    await cache.get();

    expect(withinTtl).toBe(0);
    expect(local.endpoint.calls()).toBe(1);
  });

  it('loads 25 components of one service in at most 3 calls', async () => {
    for (let i = 0; i < 25; i++) await put(`c${i}`, { n: i });
    local.endpoint.resetCalls();
    const shared = source();
    const configs = Array.from({ length: 25 }, (_, i) =>
      defineConfig({ component: `c${i}`, schema: z.object({ n: z.number() }), source: shared }),
    );

    const values = await Promise.all(configs.map((c) => c.get()));

    expect(values.map((v) => v.n)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(local.endpoint.calls()).toBeLessThanOrEqual(3);
    expect(local.endpoint.calls('GetParametersByPath')).toBe(local.endpoint.calls());
  });

  it('yields the defaults for a component that has no parameter', async () => {
    const cache = defineConfig({
      component: 'cache',
      schema: cacheSchema,
      defaults: { host: 'localhost', port: 6379, defaultTtl: 300, tls: false },
      source: source(),
    });

    expect(await cache.get()).toEqual({ host: 'localhost', port: 6379, defaultTtl: 300, tls: false });
  });

  it('decrypts SecureString values', async () => {
    await put('db', { password: 'hunter2', user: 'app' }, 'SecureString');
    const db = defineConfig({
      component: 'db',
      schema: z.object({ user: z.string(), password: z.string() }),
      source: source(),
    });

    expect(await db.get()).toEqual({ user: 'app', password: 'hunter2' });
  });

  it('names the parameter, the field, the rule and the origin of an invalid value', async () => {
    await put('cache', { host: 'h', port: 70_000, defaultTtl: 1, tls: true });
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: source() });

    const error = await failure(cache.get());

    expect(error).toBeInstanceOf(InfraError);
    // The deployment's fault, not the caller's, and fixed in SSM without a deploy: retryable.
    expect((error as InfraError).type).toBe('config');
    expect((error as InfraError).retryable).toBe(true);
    expect(error.message).toContain(`${PATH}/cache`);
    expect((error as InfraError).fields).toEqual([
      expect.objectContaining({
        path: 'port',
        rule: 'too_big',
        message: expect.stringContaining(`SSM parameter ${PATH}/cache`),
      }),
    ]);
  });

  it('names the environment variable when an override is what is invalid', async () => {
    const cache = defineConfig({
      component: 'cache',
      schema: cacheSchema,
      defaults: { host: 'h', port: 1, defaultTtl: 1, tls: true },
      source: source({ CONFIG__CACHE__PORT: 'not-a-number' }),
    });

    const error = (await failure(cache.get())) as InfraError;

    expect(error.fields[0]).toMatchObject({ path: 'port', rule: 'invalid_type' });
    expect(error.fields[0]?.message).toContain('environment variable CONFIG__CACHE__PORT');
  });

  it('reports a parameter that is not JSON as such', async () => {
    await put('cache', '{host: unquoted}');
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: source() });

    const error = (await failure(cache.get())) as InfraError;

    expect(error.fields[0]).toMatchObject({ path: '(root)', rule: 'json' });
    expect(error.message).toContain(`${PATH}/cache`);
  });

  it('keeps the last good config when a refresh brings an invalid value, warns, counts it, and degrades health', async () => {
    await put('cache', { host: 'good', port: 1, defaultTtl: 1, tls: true });
    const shared = source();
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: shared });
    const health = createHealth([configFreshnessCheck({ sources: () => [shared] })]);
    await cache.get();
    const before = await health.check();

    await put('cache', { host: '', port: 1, defaultTtl: 1, tls: true });
    now += 61_000;
    const after = await cache.get();
    const report = await health.check();

    expect(before.status).toBe('healthy');
    expect(after.host).toBe('good');
    expect(report.status).toBe('degraded');
    expect(report.components[0]?.message).toContain('host');
    expect(emitted.warnings().some((w) => String(w.message).includes('keeping the last good config'))).toBe(
      true,
    );
    expect(emitted.metrics()).toContainEqual(
      expect.objectContaining({
        name: 'ConfigRefreshFailed',
        dimensions: expect.objectContaining({ component: 'cache' }),
      }),
    );
  });

  it('recovers when the value is fixed: health turns healthy again', async () => {
    await put('cache', { host: 'good', port: 1, defaultTtl: 1, tls: true });
    const shared = source();
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: shared });
    const health = createHealth([configFreshnessCheck({ sources: () => [shared] })]);
    await cache.get();
    await put('cache', { host: '', port: 1, defaultTtl: 1, tls: true });
    now += 61_000;
    await cache.get();

    await put('cache', { host: 'fixed', port: 1, defaultTtl: 1, tls: true });
    now += 61_000;
    const value = await cache.get();

    expect(value.host).toBe('fixed');
    expect((await health.check()).status).toBe('healthy');
  });

  it('keeps the last good config when SSM fails, and waits before asking again', async () => {
    await put('cache', { host: 'good', port: 1, defaultTtl: 1, tls: true });
    const shared = source();
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: shared });
    const health = createHealth([configFreshnessCheck({ sources: () => [shared] })]);
    await cache.get();

    local.endpoint.failNext({ code: 'InternalServerError', status: 500, message: 'boom' });
    now += 61_000;
    const during = await cache.get();
    local.endpoint.resetCalls();
    now += 5_000;
    await cache.get();
    const callsWhileBackingOff = local.endpoint.calls();
    const report = await health.check();

    expect(during.host).toBe('good');
    expect(callsWhileBackingOff).toBe(0);
    expect(report.status).toBe('degraded');
    expect(report.components[0]?.message).toContain(
      'could not load config from SSM path /config/test/orders',
    );
    expect(emitted.metrics().map((m) => m.name)).toContain('ConfigRefreshFailed');
  });

  it('fails a cold start with a retryable error when SSM is unreachable, and health is unhealthy', async () => {
    const unreachable = ssmClient('http://127.0.0.1:9');
    const shared = new ConfigSource({ env: 'test', service: 'orders', client: unreachable, now: () => now });
    const cache = defineConfig({ component: 'cache', schema: cacheSchema, source: shared });
    const health = createHealth([configFreshnessCheck({ sources: () => [shared] })]);

    const error = (await failure(cache.get())) as InfraError;
    const report = await health.check();

    expect(error).toBeInstanceOf(InfraError);
    expect(error).toMatchObject({ type: 'connection', retryable: true, component: 'config' });
    expect(report.status).toBe('unhealthy');
    unreachable.destroy();
  });

  it('fires onChange once per real change, with the new and the old value', async () => {
    await put('flags', { beta: false });
    const flags = defineConfig({
      component: 'flags',
      schema: z.object({ beta: z.boolean() }),
      source: source(),
    });
    const changes: [unknown, unknown][] = [];
    flags.onChange((next, previous) => changes.push([next, previous]));
    await flags.get();

    now += 61_000;
    await flags.get(); // refreshed, unchanged
    await put('flags', { beta: true });
    now += 61_000;
    await flags.get(); // changed
    now += 61_000;
    await flags.get(); // refreshed, unchanged

    expect(changes).toEqual([[{ beta: true }, { beta: false }]]);
  });

  it('takes its TTL from the service config component', async () => {
    await put('config', { ttlSeconds: 5 });
    await put('flags', { beta: false });
    const flags = defineConfig({
      component: 'flags',
      schema: z.object({ beta: z.boolean() }),
      source: source(),
    });
    await flags.get();
    local.endpoint.resetCalls();

    now += 4_000;
    await flags.get();
    const beforeTtl = local.endpoint.calls();
    now += 2_000;
    await flags.get();

    expect(beforeTtl).toBe(0);
    expect(local.endpoint.calls()).toBe(1);
  });

  it('refuses a component name that cannot be a parameter path segment', () => {
    expect(() => defineConfig({ component: 'bad name', schema: z.object({}), source: source() })).toThrow(
      /component "bad name" is not a valid parameter path segment/,
    );
  });

  it('names the variable to set when the service binding is missing', () => {
    expect(
      () => new ConfigSource({ client: local.ssm, environment: { LAMBDA_INFRA_SERVICE: 'orders' } }),
    ).toThrow(/LAMBDA_INFRA_ENV is not set/);
  });
});
