import { breakerConfigDefaults, breakerConfigSchema } from '@lambda-infra/shared/breaker';
import { cacheConfigDefaults, cacheConfigSchema } from '@lambda-infra/shared/cache';
import { defineConfig } from '@lambda-infra/shared/config';
import { dbConfigDefaults, dbConfigSchema } from '@lambda-infra/shared/db';

// The config components of every service that uses the events data through the shared clients:
// /config/{env}/{service}/db, cache and breaker.

export const dbConfig = defineConfig({ component: 'db', schema: dbConfigSchema, defaults: dbConfigDefaults });
export const cacheConfig = defineConfig({
  component: 'cache',
  schema: cacheConfigSchema,
  defaults: cacheConfigDefaults,
});
export const breakerConfig = defineConfig({
  component: 'breaker',
  schema: breakerConfigSchema,
  defaults: breakerConfigDefaults,
});

/** What a service that uses the clients reads, for its own list of components. */
export const dataConfigComponents = [dbConfig, cacheConfig, breakerConfig];
