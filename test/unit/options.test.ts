// biome-ignore-all lint/suspicious/noExplicitAny: hostile options are what a caller without types might pass.
import { breakerConfigDefaults, consecutive, createBreaker, failureRate } from '@lambda-infra/shared/breaker';
import { cacheConfigDefaults, createCache } from '@lambda-infra/shared/cache';
import { createDb, dbConfigDefaults } from '@lambda-infra/shared/db';
import { backoffDelay, InfraError, withDefaults } from '@lambda-infra/shared/errors';
import { createPublisher, createSqsHandler, retryConfigDefaults } from '@lambda-infra/shared/mq';
import { describe, expect, it } from 'vitest';

/** What a constructor threw, for assertions on the one shape every bad option gets. */
function refusal(make: () => unknown): InfraError {
  try {
    make();
  } catch (error) {
    return error as InfraError;
  }
  throw new Error('expected the options to be refused');
}

const db = { host: '127.0.0.1', database: 'test', user: 'postgres' };

describe('one way to refuse a bad option: a config InfraError naming the option and the rule', () => {
  it.each([
    ['cache', 'commandTimeoutMs', () => createCache({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 5 })],
    [
      'cache',
      'defaultTtlSeconds',
      () => createCache({ url: 'redis://127.0.0.1:1', defaultTtlSeconds: Number.NaN }),
    ],
    [
      'cache',
      'connectTimeoutMs',
      () => createCache({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 'big' as any }),
    ],
    ['db', 'poolMax', () => createDb({ ...db, poolMax: 0 })],
    ['db', 'statementTimeoutMs', () => createDb({ ...db, statementTimeoutMs: Number.POSITIVE_INFINITY })],
    ['db', 'host', () => createDb({ ...db, host: '' })],
    ['db', 'port', () => createDb({ ...db, port: 70_000 })],
    ['db', 'tls', () => createDb({ ...db, auth: { type: 'iam', region: 'us-east-1' } })],
    ['breaker', 'openMs', () => createBreaker({ name: 'b', openMs: 0 })],
    ['breaker', 'halfOpenCalls', () => createBreaker({ name: 'b', halfOpenCalls: 1.5 })],
    ['breaker', 'threshold', () => consecutive(0)],
    ['breaker', 'windowMs', () => failureRate({ threshold: 0.5, windowMs: -1, minCalls: 1 })],
    ['mq', 'maxAttempts', () => createPublisher({ queueUrl: 'http://127.0.0.1:1/1/q', maxAttempts: 0 })],
    [
      'mq',
      'maxDelayMs',
      () => createPublisher({ queueUrl: 'http://127.0.0.1:1/1/q', baseDelayMs: 10, maxDelayMs: 1 }),
    ],
    ['mq', 'baseDelaySeconds', () => createSqsHandler({ handle: () => {}, retry: { baseDelaySeconds: -1 } })],
  ])('%s option %s', (component, option, make) => {
    const error = refusal(make);

    expect(error).toBeInstanceOf(InfraError);
    expect(error).toMatchObject({ type: 'config', component, code: 'INVALID_OPTION' });
    expect(error.message).toContain(`${component} option ${option} `);
    expect(error.fields).toEqual([expect.objectContaining({ path: option, rule: 'option' })]);
  });

  it('takes what is not given, or given as undefined, from the module’s defaults', () => {
    const merged = withDefaults(dbConfigDefaults, { poolMax: 4, slowQueryMs: undefined });

    expect(merged).toEqual({ ...dbConfigDefaults, poolMax: 4 });
    expect(createBreaker({ name: 'defaults', openMs: undefined }).stats().state).toBe('closed');
    // The defaults a constructor applies are its config component's, from one object per module.
    expect(cacheConfigDefaults.commandTimeoutMs).toBe(500);
    expect(breakerConfigDefaults.openMs).toBe(5_000);
    expect(retryConfigDefaults.baseDelaySeconds).toBe(10);
  });
});

describe('the one backoff', () => {
  it('doubles from its base up to its max, jittered as asked', () => {
    const steps = [0, 1, 2, 3, 10].map((n) => backoffDelay(n, { base: 10, max: 50, jitter: 'none' }));

    expect(steps).toEqual([10, 20, 40, 50, 50]);
    expect(backoffDelay(2, { base: 10, max: 50, jitter: 'full' }, () => 0)).toBe(0);
    expect(backoffDelay(2, { base: 10, max: 50, jitter: 'full' }, () => 1)).toBe(40);
    expect(backoffDelay(2, { base: 10, max: 50, jitter: 'equal' }, () => 0)).toBe(20);
    expect(backoffDelay(2, { base: 10, max: 50, jitter: 'equal' }, () => 1)).toBe(40);
    expect(backoffDelay(-3, { base: 10, max: 50, jitter: 'none' })).toBe(10);
  });
});
