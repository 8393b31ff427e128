import { z } from 'zod';
import { bindings, readBinding, readOptionalBinding } from '../config/bindings.ts';
import { InfraError } from '../errors/index.ts';
import type { CacheAuth, CacheOptions } from './createCache.ts';

/** The cache's tunables, from `/config/{env}/{service}/cache`: `defineConfig({ component: 'cache', … })`. */
export const cacheConfigSchema = z.object({
  defaultTtlSeconds: z
    .number()
    .int()
    .positive()
    .max(30 * 86_400),
  commandTimeoutMs: z.number().int().min(10).max(60_000),
  connectTimeoutMs: z.number().int().min(10).max(60_000),
  maxReconnectDelayMs: z.number().int().min(10).max(60_000),
  l1: z.object({
    enabled: z.boolean(),
    maxEntries: z.number().int().positive(),
    maxBytes: z.number().int().positive(),
    ttlMs: z.number().int().min(0).max(3_600_000),
  }),
});
export type CacheConfig = z.infer<typeof cacheConfigSchema>;

/** What `createCache` takes for an option not given, and the `cache` component's defaults beside its L1's. */
export const cacheOptionDefaults = {
  defaultTtlSeconds: 300,
  commandTimeoutMs: 500,
  connectTimeoutMs: 1_000,
  maxReconnectDelayMs: 2_000,
} satisfies Omit<CacheConfig, 'l1'>;

export const cacheConfigDefaults: CacheConfig = {
  ...cacheOptionDefaults,
  l1: { enabled: false, maxEntries: 1_000, maxBytes: 8 * 1024 * 1024, ttlMs: 5_000 },
};

/** The rules `createCache` holds its options to: the component's own. */
export const cacheOptionRules = cacheConfigSchema.omit({ l1: true });

function oneOf<T extends string>(name: 'cacheMode' | 'cacheAuth', value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InfraError(`${bindings[name].variable} is "${value}": it must be one of ${allowed.join(', ')}`, {
    type: 'config',
    component: 'cache',
  });
}

/**
 * Cache options from the bindings (endpoint, topology, authentication, set by the CDK app) and the cache's
 * tunables (from SSM config).
 */
export function cacheOptionsFromEnvironment(
  config: CacheConfig = cacheConfigDefaults,
  env: NodeJS.ProcessEnv = process.env,
): CacheOptions {
  const url = readBinding('cacheUrl', env);
  const mode = oneOf('cacheMode', readOptionalBinding('cacheMode', env) ?? 'standalone', [
    'standalone',
    'cluster',
    'serverless',
  ] as const);
  const authType = oneOf('cacheAuth', readOptionalBinding('cacheAuth', env) ?? 'none', [
    'none',
    'iam',
  ] as const);
  let auth: CacheAuth = { type: 'none' };
  if (authType === 'iam') {
    if (!url.startsWith('rediss://')) {
      throw new InfraError(
        `IAM authentication needs TLS: ${bindings.cacheUrl.variable} must start with rediss://, not "${url.split('://')[0]}://"`,
        { type: 'config', component: 'cache' },
      );
    }
    const region = env.AWS_REGION;
    if (!region)
      throw new InfraError('AWS_REGION is not set: IAM tokens are signed for a region', {
        type: 'config',
        component: 'cache',
      });
    auth = {
      type: 'iam',
      userId: readBinding('cacheUser', env),
      cacheName: readBinding('cacheName', env),
      region,
      serverless: mode === 'serverless',
    };
  }
  const service = env.LAMBDA_INFRA_SERVICE ?? env.POWERTOOLS_SERVICE_NAME;
  return {
    url,
    cluster: mode !== 'standalone',
    auth,
    ...(env.LAMBDA_INFRA_ENV && service ? { namespace: `${env.LAMBDA_INFRA_ENV}:${service}:` } : {}),
    defaultTtlSeconds: config.defaultTtlSeconds,
    commandTimeoutMs: config.commandTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    maxReconnectDelayMs: config.maxReconnectDelayMs,
    l1: config.l1.enabled
      ? { maxEntries: config.l1.maxEntries, maxBytes: config.l1.maxBytes, ttlMs: config.l1.ttlMs }
      : false,
  };
}
