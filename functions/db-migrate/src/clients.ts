import { createConfiguredBreaker, memoryStore, redisStore } from '@lambda-infra/shared/breaker';
import { cacheOptionsFromEnvironment, createCache } from '@lambda-infra/shared/cache';
import { readBinding, readOptionalBinding } from '@lambda-infra/shared/config';
import { createDb, dbOptionsFromEnvironment } from '@lambda-infra/shared/db';
import { lazy } from '@lambda-infra/shared/handler';
import { breakerConfig, cacheConfig, dbConfig } from './config.ts';
import { EVENTS_DB_BREAKER, eventsCacheNamespace } from './events.ts';
import type { EventsDatabase } from './schema.ts';

// The clients the API and the worker share, each made on first use, from the service's own config components
// (/config/{env}/{service}/db, cache and breaker) and the stack's bindings.

export const db = lazy(async () => createDb<EventsDatabase>(dbOptionsFromEnvironment(await dbConfig.get())));

/** The cache, where the stack gives one (LAMBDA_INFRA_CACHE_URL); the pipeline works without it. */
export const cache = lazy(async () =>
  readOptionalBinding('cacheUrl')
    ? createCache({
        ...cacheOptionsFromEnvironment(await cacheConfig.get()),
        namespace: eventsCacheNamespace(readBinding('env')),
      })
    : undefined,
);

/** One circuit around the database for every container of both functions, shared through Redis when there is a cache. */
export const dbBreaker = lazy(async () => {
  const shared = await cache();
  const breaker = await createConfiguredBreaker({
    name: EVENTS_DB_BREAKER,
    config: breakerConfig,
    store: shared ? redisStore(shared) : memoryStore(),
  });
  await breaker.sync();
  return breaker;
});
