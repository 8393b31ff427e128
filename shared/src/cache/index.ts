export {
  Cache,
  type CacheAuth,
  type CacheOptions,
  type CacheStats,
  createCache,
  type GetOrSetOptions,
  type Lock,
  type LockOptions,
} from './createCache.ts';
export {
  type CacheConfig,
  cacheConfigDefaults,
  cacheConfigSchema,
  cacheOptionsFromEnvironment,
} from './environment.ts';
export { cacheHealthCheck } from './health.ts';
export {
  createIamAuthToken,
  type IamAuthOptions,
  iamCredentialsProvider,
  type StreamingCredentialsProvider,
  TOKEN_LIFETIME_SECONDS,
} from './iamAuth.ts';
export { MemoryCache, type MemoryCacheOptions } from './MemoryCache.ts';
