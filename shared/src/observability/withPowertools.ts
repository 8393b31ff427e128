import { cleanupMiddlewares } from '@aws-lambda-powertools/commons';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { recordRegisteredMetrics } from './catalog.ts';
import { logger } from './logger.ts';
import { invocationMetrics, metrics } from './metrics.ts';
import { tracing } from './tracing.ts';

let coldStart = true;

/**
 * A middleware typed with any context, as Powertools' own are: a handler is called with Lambda's Context, whatever
 * context a later middleware declares.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above.
type AnyContextMiddleware = middy.MiddlewareObj<unknown, unknown, Error, any>;

/**
 * The end of an invocation for metrics: the registered sources record, the library's metrics go out as one EMF
 * document, and a handler's own Powertools metrics, if it added any, as Powertools writes them.
 */
function publishMetrics(): void {
  recordRegisteredMetrics();
  invocationMetrics.flush();
  if (metrics.added) metrics.publishStoredMetrics();
}

/**
 * The container's first invocation counted as `ColdStart`, with the `function_name` dimension, as Powertools
 * writes it. Provisioned concurrency starts containers ahead of their first request: those are not cold starts.
 */
function countColdStart(request: { context: Context }): void {
  if (!coldStart) return;
  coldStart = false;
  if (process.env.AWS_LAMBDA_INITIALIZATION_TYPE === 'provisioned-concurrency') return;
  const functionName = request.context.functionName;
  invocationMetrics.single('ColdStart', 'Count', 1, functionName ? { function_name: functionName } : {});
}

/**
 * The base every handler of this library sits on: middy with the tracing middleware (when tracing is on), the
 * Powertools logger middleware (Lambda context on every line, per-invocation keys reset), and the metrics one
 * (cold start counted, metrics published per invocation). Used first, their `onError` runs last.
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
      // Metrics last: published when the invocation ends, answered or failed.
      .use({ before: countColdStart, after: publishMetrics, onError: publishMetrics } as AnyContextMiddleware)
  );
}

/**
 * What a middleware that answers early (from `before`, so that no `after` runs) calls first: the metrics are
 * published, and the Powertools middlewares close the trace and reset the log keys, as they would have in
 * `after`.
 */
export async function endEarly(request: Parameters<typeof cleanupMiddlewares>[0]): Promise<void> {
  publishMetrics();
  await cleanupMiddlewares(request);
}
