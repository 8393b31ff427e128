import type { HealthCheck } from '../health/index.ts';
import type { Db } from './createDb.ts';

/**
 * Database health: `select 1` within the timeout, with its latency. Slower than `degradedAfterMs`, or every
 * connection in use with callers waiting, is degraded.
 */
export function dbHealthCheck(
  db: Pick<Db<unknown>, 'ping' | 'stats'>,
  options: { critical?: boolean; timeoutMs?: number; degradedAfterMs?: number } = {},
): HealthCheck {
  const degradedAfterMs = options.degradedAfterMs ?? 200;
  return {
    name: 'db',
    // The database is the source of truth: without it the service cannot do its work.
    critical: options.critical ?? true,
    timeoutMs: options.timeoutMs ?? 2_000,
    async check() {
      const before = db.stats();
      const ms = await db.ping();
      const { total, idle, max } = db.stats();
      // Callers queued for a connection: the pool is too small for the work, or the database too slow.
      const waiting = before.waiting;
      const message = `select 1 in ${ms.toFixed(1)} ms; ${total - idle}/${max} connections in use, ${waiting} waiting`;
      const saturated = waiting > 0;
      return { status: ms > degradedAfterMs || saturated ? 'degraded' : 'healthy', message };
    },
  };
}
