import type { MiddlewareObj } from '@middy/core';
import { InfraError } from '../errors/index.ts';

/** What the library asks of a tracer, whichever back end traces. */
export interface Tracing {
  readonly enabled: boolean;
  /** The middy middleware that traces an invocation; used first, so that it wraps all the others. */
  readonly middleware: MiddlewareObj | undefined;
  /** Records an error on the invocation's trace. */
  recordError(error: Error): void;
}

export type TracingMode = 'off' | 'xray';

/**
 * Which back end traces, read once per container: `LAMBDA_INFRA_TRACING` (`off` or `xray`), else `off` where
 * `POWERTOOLS_TRACE_ENABLED` is `false`, else `xray`.
 */
export function tracingMode(env: NodeJS.ProcessEnv = process.env): TracingMode {
  const chosen = env.LAMBDA_INFRA_TRACING;
  if (chosen === 'off' || chosen === 'xray') return chosen;
  if (chosen !== undefined && chosen !== '') {
    throw new InfraError(`LAMBDA_INFRA_TRACING is "${chosen}": it must be off or xray`, {
      type: 'config',
      component: 'observability',
    });
  }
  return env.POWERTOOLS_TRACE_ENABLED === 'false' ? 'off' : 'xray';
}

const OFF: Tracing = { enabled: false, middleware: undefined, recordError: () => undefined };

/**
 * The container's tracing. Off, no tracer code is loaded at all: the X-Ray SDK would turn on async hooks for the
 * whole process and make every `await` about twenty times dearer, traced or not.
 */
export const tracing: Tracing =
  tracingMode() === 'off' ? OFF : (await import('./tracing/xray.ts')).xrayTracing();
