import { cleanupMiddlewares } from '@aws-lambda-powertools/commons';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { recordRegisteredMetrics } from './catalog.ts';
import { logger } from './logger.ts';
import { metrics } from './metrics.ts';
import { tracing } from './tracing.ts';

/**
 * The base every handler of this library sits on: middy with the tracing middleware (when tracing is on), and the
 * Powertools logger (Lambda context on every line, per-invocation keys reset) and metrics (flushed per invocation,
 * cold start counted) middlewares. Used first, their `onError` runs last.
 */
export function withPowertools<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
) {
  return (
    // No early timeout of middy's: each handler keeps its own deadline (an HTTP 503, an SQS retry), and middy's
    // would add a timer to every invocation.
    middy<TEvent, TResult>(tracing.wrapHandler(handler), { timeoutEarlyInMillis: 0 })
      .use(tracing.middleware ? [tracing.middleware] : [])
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics, { captureColdStartMetric: true }))
      // Used after logMetrics so that its `after` runs first: sources record before the metrics are published.
      .use({ after: recordRegisteredMetrics, onError: recordRegisteredMetrics })
  );
}

/**
 * What a middleware that answers early (from `before`, so that no `after` runs) calls first: the metrics sources
 * record, and the Powertools middlewares close the trace, publish the metrics and reset the log keys, as they
 * would have in `after`.
 */
export async function endEarly(request: Parameters<typeof cleanupMiddlewares>[0]): Promise<void> {
  recordRegisteredMetrics();
  await cleanupMiddlewares(request);
}
