import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { InfraError } from '../errors/index.ts';
import { lambdaTraceHeader } from './tracing/lambdaHeader.ts';

/** What the library asks of a tracer, whichever back end traces. */
export interface Tracing {
  readonly enabled: boolean;
  /** The middy middleware that traces an invocation; used first, so that it wraps all the others. */
  readonly middleware: MiddlewareObj | undefined;
  /**
   * Wraps the innermost handler so that it runs in the invocation's trace context (a middleware cannot set the
   * context its successors run in).
   */
  wrapHandler<E, R>(handler: InnerHandler<E, R>): InnerHandler<E, R>;
  /** Records an error on the invocation's trace. */
  recordError(error: Error): void;
  /** The X-Ray trace header (`Root=…;Parent=…;Sampled=…`) an outgoing message carries, if any. */
  traceHeader(): string | undefined;
  /** Runs `fn`, the sending of messages to `destination`, in a producer span. */
  producer<T>(destination: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn`, the handling of one message, in a span whose parent is the trace `header` the message carried. */
  consumer<T>(message: ConsumedMessage, fn: () => Promise<T>): Promise<T>;
}

export interface ConsumedMessage {
  /** The queue's name. */
  source: string;
  id: string;
  header: string | undefined;
}

type InnerHandler<E, R> = (event: E, context: Context) => Promise<R>;

export type TracingMode = 'off' | 'xray' | 'otel';

const MODES: readonly string[] = ['off', 'xray', 'otel'] satisfies TracingMode[];

/**
 * Which back end traces, read once per container: `LAMBDA_INFRA_TRACING` (`off`, `otel` or `xray`), else `off`
 * where `POWERTOOLS_TRACE_ENABLED` is `false`, else `otel`: the X-Ray SDK under the Powertools Tracer is in
 * maintenance, and makes every `await` of the process dearer.
 */
export function tracingMode(env: NodeJS.ProcessEnv = process.env): TracingMode {
  const chosen = env.LAMBDA_INFRA_TRACING;
  if (chosen !== undefined && MODES.includes(chosen)) return chosen as TracingMode;
  if (chosen !== undefined && chosen !== '') {
    throw new InfraError(
      `LAMBDA_INFRA_TRACING is ${JSON.stringify(chosen.slice(0, 40))}: it must be one of ${MODES.join(', ')}`,
      {
        type: 'config',
        component: 'observability',
      },
    );
  }
  return env.POWERTOOLS_TRACE_ENABLED === 'false' ? 'off' : 'otel';
}

/** The message attribute that carries a message's X-Ray trace header, beside the `AWSTraceHeader` system one. */
export const TRACE_ATTRIBUTE = 'X-Amzn-Trace-Id';

const OFF: Tracing = {
  enabled: false,
  middleware: undefined,
  wrapHandler: (handler) => handler,
  recordError: () => undefined,
  traceHeader: lambdaTraceHeader,
  producer: (_destination, fn) => fn(),
  consumer: (_message, fn) => fn(),
};

// The back ends import nothing from this module but types: a cycle would deadlock its top-level await.
async function load(mode: TracingMode): Promise<Tracing> {
  if (mode === 'otel') return (await import('./tracing/otel.ts')).otelTracing();
  if (mode === 'xray') return (await import('./tracing/xray.ts')).xrayTracing();
  return OFF;
}

/**
 * The container's tracing. Off, no tracer code is loaded at all: the X-Ray SDK would turn on async hooks for the
 * whole process and make every `await` about twenty times dearer, traced or not.
 */
export const tracing: Tracing = await load(tracingMode());
