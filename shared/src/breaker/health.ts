import type { HealthCheck } from '../health/index.ts';
import type { Breaker } from './createBreaker.ts';

/** Breaker health: degraded while any of the circuits is not closed, naming them and their states. */
export function breakerHealthCheck(breakers: () => Breaker[]): HealthCheck {
  return {
    name: 'breakers',
    critical: false,
    check() {
      const notClosed = breakers().filter((b) => b.state !== 'closed');
      if (notClosed.length === 0) return { status: 'healthy' };
      return { status: 'degraded', message: notClosed.map((b) => `${b.name} is ${b.state}`).join('; ') };
    },
  };
}
