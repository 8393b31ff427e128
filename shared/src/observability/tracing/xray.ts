import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { Tracing } from '../tracing.ts';
import { lambdaTraceHeader } from './lambdaHeader.ts';

/**
 * Traces through the Powertools Tracer, on the X-Ray SDK (which AWS maintains until 2027-02-25): a subsegment per
 * invocation, responses left out (they may carry personal data, and X-Ray metadata is capped at 64 KB). Loaded
 * only when tracing is on: the X-Ray SDK turns on async hooks for the whole process.
 */
export function xrayTracing(): Tracing {
  const tracer = new Tracer();
  const capture = captureLambdaHandler(tracer, { captureResponse: false });
  return {
    enabled: true,
    middleware: {
      before: capture.before,
      after: capture.after,
      // An error a later middleware answered (an HTTP 4xx or 503) closes the trace as the answer it became, not
      // as a fault; whoever answers a 500 records its error itself.
      onError: (request) => (request.response === undefined ? capture.onError : capture.after)?.(request),
    },
    wrapHandler: (handler) => handler,
    recordError: (error) => tracer.addErrorAsMetadata(error),
    // The X-Ray SDK keeps the function's segment as the message's parent; its subsegments are not propagated.
    traceHeader: lambdaTraceHeader,
    producer: (_destination, fn) => fn(),
    consumer: (_message, fn) => fn(),
  };
}
