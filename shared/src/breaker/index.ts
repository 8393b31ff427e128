export {
  type BreakerConfig,
  breakerConfigDefaults,
  breakerConfigSchema,
  breakerSettings,
  createConfiguredBreaker,
} from './config.ts';
export {
  Breaker,
  type BreakerEvent,
  BreakerOpenError,
  type BreakerOptions,
  type BreakerState,
  type BreakerStats,
  createBreaker,
  type ExecuteOptions,
  STATE_METRIC_VALUE,
} from './createBreaker.ts';
export { breakerHealthCheck } from './health.ts';
export {
  type BreakerStore,
  memoryStore,
  type OutcomeBatch,
  redisStore,
  type ScriptRunner,
  type SharedState,
} from './stores.ts';
export { consecutive, type FailureRateOptions, failureRate, type Strategy } from './strategies.ts';
