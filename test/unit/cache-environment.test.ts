import { cacheConfigDefaults, cacheOptionsFromEnvironment } from '@lambda-infra/shared/cache';
import { describe, expect, it } from 'vitest';

const base = { LAMBDA_INFRA_ENV: 'prod', LAMBDA_INFRA_SERVICE: 'orders', AWS_REGION: 'eu-west-1' };

describe('cache options from the bindings and config', () => {
  it('reads a standalone cache without auth, namespaced by env and service', () => {
    const options = cacheOptionsFromEnvironment(cacheConfigDefaults, {
      ...base,
      LAMBDA_INFRA_CACHE_URL: 'redis://cache:6379',
    });

    expect(options).toMatchObject({
      url: 'redis://cache:6379',
      cluster: false,
      auth: { type: 'none' },
      namespace: 'prod:orders:',
      commandTimeoutMs: 500,
      l1: false,
    });
  });

  it('reads ElastiCache Serverless with IAM: cluster mode, TLS, and a token for the serverless cache', () => {
    const options = cacheOptionsFromEnvironment(
      { ...cacheConfigDefaults, l1: { ...cacheConfigDefaults.l1, enabled: true, ttlMs: 2_000 } },
      {
        ...base,
        LAMBDA_INFRA_CACHE_URL: 'rediss://orders-abc.serverless.euw1.cache.amazonaws.com:6379',
        LAMBDA_INFRA_CACHE_MODE: 'serverless',
        LAMBDA_INFRA_CACHE_AUTH: 'iam',
        LAMBDA_INFRA_CACHE_USER: 'orders-app',
        LAMBDA_INFRA_CACHE_NAME: 'orders',
      },
    );

    expect(options).toMatchObject({
      cluster: true,
      auth: { type: 'iam', userId: 'orders-app', cacheName: 'orders', region: 'eu-west-1', serverless: true },
      l1: { ttlMs: 2_000 },
    });
  });

  it.each([
    [{}, /LAMBDA_INFRA_CACHE_URL is not set/],
    [
      { LAMBDA_INFRA_CACHE_URL: 'redis://c:6379', LAMBDA_INFRA_CACHE_MODE: 'sentinel' },
      /LAMBDA_INFRA_CACHE_MODE is "sentinel": it must be one of standalone, cluster, serverless/,
    ],
    [
      { LAMBDA_INFRA_CACHE_URL: 'redis://c:6379', LAMBDA_INFRA_CACHE_AUTH: 'iam' },
      /IAM authentication needs TLS: LAMBDA_INFRA_CACHE_URL must start with rediss:\/\//,
    ],
    [
      { LAMBDA_INFRA_CACHE_URL: 'rediss://c:6379', LAMBDA_INFRA_CACHE_AUTH: 'iam' },
      /LAMBDA_INFRA_CACHE_USER is not set/,
    ],
  ])('names the variable and the rule when a binding is wrong (%o)', (env, message) => {
    expect(() => cacheOptionsFromEnvironment(cacheConfigDefaults, { ...base, ...env })).toThrow(message);
  });
});
