import type { HealthCheck } from '../health/index.ts';
import type { Cache } from './createCache.ts';

/** Cache health: a PING within the timeout, with its latency; slower than `degradedAfterMs` is degraded. */
export function cacheHealthCheck(
  cache: Cache,
  options: { critical?: boolean; timeoutMs?: number; degradedAfterMs?: number } = {},
): HealthCheck {
  const degradedAfterMs = options.degradedAfterMs ?? 100;
  return {
    name: 'cache',
    // The cache stands in front of a source of truth: losing it slows the service, it does not stop it.
    critical: options.critical ?? false,
    timeoutMs: options.timeoutMs ?? 1_000,
    async check() {
      const ms = await cache.ping();
      const message = `PING ${ms.toFixed(1)} ms`;
      return { status: ms > degradedAfterMs ? 'degraded' : 'healthy', message };
    },
  };
}
