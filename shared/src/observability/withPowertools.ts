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
 * per invocation, cold start counted) middlewares.
 */
export function withPowertools<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
) {
  return (
    middy<TEvent, TResult>(handler)
      // Responses stay out of traces: they may carry personal data, and X-Ray metadata is capped at 64 KB.
      .use(captureLambdaHandler(tracer, { captureResponse: false }))
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics, { captureColdStartMetric: true }))
      // Used after logMetrics so that its `after` runs first: sources record before the metrics are published.
      .use({ after: recordRegisteredMetrics, onError: recordRegisteredMetrics })
  );
}
