import { cleanupMiddlewares } from '@aws-lambda-powertools/commons';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { recordRegisteredMetrics } from './catalog.ts';
import { logger } from './logger.ts';
import { metrics } from './metrics.ts';
import { tracer } from './tracer.ts';

/**
 * The base every handler of this library sits on: middy with the Powertools tracer (a subsegment per invocation,
 * responses not recorded), logger (Lambda context on every line, per-invocation keys reset) and metrics (flushed
 * per invocation, cold start counted) middlewares. Used first, their `onError` runs last: an error that a later
 * middleware answered (an HTTP 4xx or 503) closes the trace as the answer it became, not as a fault; whoever
 * answers a 500 records its error on the trace itself.
 */
export function withPowertools<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
) {
  // Responses stay out of traces: they may carry personal data, and X-Ray metadata is capped at 64 KB.
  const tracing = captureLambdaHandler(tracer, { captureResponse: false });
  return (
    middy<TEvent, TResult>(handler)
      .use({
        before: tracing.before,
        after: tracing.after,
        onError: (request) => (request.response === undefined ? tracing.onError : tracing.after)?.(request),
      })
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
