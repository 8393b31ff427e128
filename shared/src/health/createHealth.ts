import { withTimeout } from '../errors/index.ts';
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What a check may return; returning nothing means healthy. A check that throws is unhealthy. */
export interface CheckOutcome {
  status: HealthStatus;
  message?: string;
}

export interface HealthCheck {
  name: string;
  /** An unhealthy critical check makes the whole service unhealthy; a non-critical one only degrades it. */
  critical?: boolean;
  /** Default 1000 ms; a check still running then is unhealthy. */
  timeoutMs?: number;
  check(): Promise<CheckOutcome | undefined> | CheckOutcome | undefined;
}

export interface ComponentHealth {
  name: string;
  status: HealthStatus;
  critical: boolean;
  latencyMs: number;
  message?: string;
}

export interface HealthReport {
  status: HealthStatus;
  checkedAt: string;
  components: ComponentHealth[];
}

export interface Health {
  check(): Promise<HealthReport>;
  add(check: HealthCheck): void;
}

const DEFAULT_TIMEOUT_MS = 1_000;

async function run(check: HealthCheck): Promise<ComponentHealth> {
  const critical = check.critical ?? true;
  const timeoutMs = check.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = performance.now();
  let outcome: CheckOutcome;
  try {
    outcome =
      (await withTimeout(
        Promise.resolve().then(() => check.check()),
        timeoutMs,
        () => new Error(`timed out after ${timeoutMs} ms`),
      )) ?? ({ status: 'healthy' } as const);
  } catch (error) {
    outcome = { status: 'unhealthy', message: error instanceof Error ? error.message : String(error) };
  }
  return {
    name: check.name,
    status: outcome.status,
    critical,
    latencyMs: Math.round((performance.now() - started) * 100) / 100,
    ...(outcome.message ? { message: outcome.message } : {}),
  };
}

function aggregate(components: ComponentHealth[]): HealthStatus {
  if (components.some((c) => c.status === 'unhealthy' && c.critical)) return 'unhealthy';
  if (components.some((c) => c.status !== 'healthy')) return 'degraded';
  return 'healthy';
}

/**
 * Runs every check at once, each within its own timeout, and folds them into one status: unhealthy when a
 * critical check is, degraded when any check is not healthy, healthy otherwise.
 */
export function createHealth(checks: HealthCheck[] = []): Health {
  const all = [...checks];
  return {
    add(check) {
      all.push(check);
    },
    async check() {
      const components = await Promise.all(all.map(run));
      return { status: aggregate(components), checkedAt: new Date().toISOString(), components };
    },
  };
}

/**
 * A check of a client made on first use (a `lazy()` one): `make` gives the real check once the client exists,
 * or undefined when the deployment has none, which is reported healthy and says so. Critical and timeout are
 * known before the client is, so they are given here.
 */
export function deferredCheck(
  name: string,
  options: { critical?: boolean; timeoutMs?: number },
  make: () => Promise<HealthCheck | undefined>,
): HealthCheck {
  return {
    name,
    ...options,
    async check() {
      const real = await make();
      if (!real) return { status: 'healthy', message: 'not configured' };
      return real.check();
    },
  };
}
