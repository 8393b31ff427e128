import type { MiddlewareObj, Request } from '@middy/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  LambdaFunctionURLEvent,
} from 'aws-lambda';
import type { z } from 'zod';
import { BreakerOpenError } from '../breaker/index.ts';
import type { Config } from '../config/index.ts';
import { classifyError, Deadline, invocationDeadline, withDeadline } from '../errors/index.ts';
import type { Health } from '../health/index.ts';
import {
  CORRELATION_HEADER,
  correlationIdFromEvent,
  endEarly,
  eventMetrics,
  logger,
  setCorrelationId,
  tracing,
} from '../observability/index.ts';
import {
  badRequest,
  bodyBytes,
  checkBodySize,
  checkJsonContentType,
  json,
  parseJsonBody,
  RequestRejected,
} from './request.ts';

/** HTTP API (payload v2) and Function URL events share this shape. */
export type HttpEvent = APIGatewayProxyEventV2 | LambdaFunctionURLEvent;
export type HttpResponse = APIGatewayProxyStructuredResultV2;

export type ConfigValues<T> = { [K in keyof T]: T[K] extends Config<infer V> ? V : never };

/** Whether the event is one an HTTP handler can answer: HTTP API payload 2.0 or a Function URL. */
function notAnHttpEvent(event: unknown): string | undefined {
  if (event === null || typeof event !== 'object')
    return `the event is ${event === null ? 'null' : typeof event}`;
  const e = event as {
    version?: unknown;
    httpMethod?: unknown;
    rawPath?: unknown;
    requestContext?: { http?: { method?: unknown } };
  };
  if (e.version === '1.0' || typeof e.httpMethod === 'string') {
    return 'the event is API Gateway payload format 1.0; this handler takes 2.0 (HTTP API or Function URL)';
  }
  if (typeof e.requestContext?.http?.method !== 'string' || typeof e.rawPath !== 'string') {
    return 'the event is not an API Gateway HTTP API (payload 2.0) or Function URL event';
  }
  return undefined;
}

/** What the middlewares below put on the Lambda context, for the middlewares after them and the handler. */
export interface HttpContext<CV = Record<string, unknown>> extends Context {
  /** Set by `httpRequest()`: when the request started (`performance.now()`). */
  startedAt?: number;
  /** Set by `correlationId()`. */
  correlationId: string;
  /**
   * Set by `requestDeadline()`: when the request must have answered, shared by every wait that bounds itself
   * (config, the handler), with one timer.
   */
  deadline?: Deadline;
  /** Set by `loadConfig()`: each component validated and within its TTL. */
  config: CV;
  /** Set by `validateBody()`: the JSON body as its schema returned it. */
  body?: unknown;
}

/** A middleware of an HTTP handler: what a team's own (CORS, auth) is too. */
export type HttpMiddleware<CV = Record<string, unknown>> = MiddlewareObj<
  HttpEvent,
  HttpResponse,
  Error,
  HttpContext<CV>
>;
type HttpMiddyRequest<CV> = Request<HttpEvent, HttpResponse, Error, HttpContext<CV>>;

/** What the middlewares that bound a wait keep back from the invocation's remaining time, unless told. */
export const DEFAULT_TIME_MARGIN_MS = 500;

/** Counts a request answered (`EventsHandled`), with its duration since `httpRequest()` saw it. */
function countHandled(context: { startedAt?: number }): void {
  eventMetrics.handled();
  eventMetrics.handlingDuration(performance.now() - (context.startedAt ?? performance.now()));
}

/**
 * The request as an HTTP request: anything but an HTTP API (payload 2.0) or Function URL event is answered 400
 * with the reason at once (no HTTP client is waiting, whoever invoked the function gets it), and every request
 * answered is counted (`EventsHandled`) with its duration.
 */
export function httpRequest<CV>(): HttpMiddleware<CV> {
  const handled = (request: HttpMiddyRequest<CV>) => countHandled(request.context);
  return {
    name: 'lambdaInfraHttpRequest',
    before: (request) => {
      request.context.startedAt = performance.now();
      const refused = notAnHttpEvent(request.event);
      // Synchronous for an HTTP event: a promise per request is dear where async hooks are on.
      if (!refused) return undefined;
      logger.warn('event refused', { reason: refused });
      return endEarly(request).then(() =>
        json(400, { message: refused, requestId: request.context.awsRequestId }),
      );
    },
    after: handled,
    onError: handled,
  };
}

/**
 * The correlation id of the request: a safe `x-correlation-id` header, else the API Gateway request id. It is on
 * every log line and published message from then on, on the context as `correlationId`, and on the response, a
 * mapped error's included.
 */
export function correlationId<CV>(): HttpMiddleware<CV> {
  const onResponse = (request: HttpMiddyRequest<CV>) => {
    const response = request.response;
    if (response && typeof response === 'object') {
      response.headers = { ...response.headers, [CORRELATION_HEADER]: request.context.correlationId };
    }
  };
  return {
    name: 'lambdaInfraCorrelationId',
    before: (request) => {
      const id = correlationIdFromEvent(request.event) ?? request.context.awsRequestId;
      setCorrelationId(id);
      request.context.correlationId = id;
    },
    after: onResponse,
    onError: onResponse,
  };
}

/**
 * The request's deadline on the context (`deadline`): the invocation's remaining time less `timeMarginMs`, after
 * which a wait still going answers 503 with Retry-After instead of running into the function's timeout.
 */
export function requestDeadline<CV>(options: { timeMarginMs?: number } = {}): HttpMiddleware<CV> {
  const marginMs = options.timeMarginMs ?? DEFAULT_TIME_MARGIN_MS;
  const clear = (request: HttpMiddyRequest<CV>) => request.context.deadline?.clear();
  return {
    name: 'lambdaInfraRequestDeadline',
    before: (request) => {
      request.context.deadline = new Deadline(invocationDeadline(request.context, marginMs));
    },
    after: clear,
    onError: clear,
  };
}

/** Reads every component before the handler, on the context as `config`; no SSM call within their TTL. */
export function loadConfig<C extends Record<string, Config<unknown>>>(
  components: C,
  options: { timeMarginMs?: number } = {},
): HttpMiddleware<ConfigValues<C>> {
  const load = configLoader(components);
  const ready = configPeek(components);
  const marginMs = options.timeMarginMs ?? DEFAULT_TIME_MARGIN_MS;
  return {
    name: 'lambdaInfraLoadConfig',
    before: (request) => {
      const { context } = request;
      // Within the TTL, as nearly every warm invocation is: the values at once, with no deadline timer to arm.
      const values = ready();
      if (values) {
        context.config = values;
        return;
      }
      return (async () => {
        context.config = await (context.deadline
          ? context.deadline.bound(load(), 'loading config')
          : withDeadline(load(), invocationDeadline(context, marginMs), 'loading config'));
      })();
    },
  };
}

/** All components at once, keyed as given. */
export function configLoader<C extends Record<string, Config<unknown>>>(
  components: C,
): () => Promise<ConfigValues<C>> {
  const entries = Object.entries(components) as [string, Config<unknown>][];
  return async () => {
    const values = await Promise.all(entries.map(([, config]) => config.get()));
    return Object.fromEntries(entries.map(([key], i) => [key, values[i]])) as ConfigValues<C>;
  };
}

/** All components when every one can be had at once (`peek()`), else `undefined`. */
function configPeek<C extends Record<string, Config<unknown>>>(
  components: C,
): () => ConfigValues<C> | undefined {
  const entries = Object.entries(components) as [string, Config<unknown>][];
  return () => {
    const values: [string, unknown][] = [];
    for (const [key, config] of entries) {
      const value = config.peek?.();
      if (value === undefined) return undefined;
      values.push([key, value]);
    }
    return Object.fromEntries(values) as ConfigValues<C>;
  };
}

/** What a body must be: JSON checked by a schema, within a size. */
export interface BodyOptions<S extends z.ZodType, CV> {
  /**
   * The body must be JSON (content-type `application/json` or `…+json`, UTF-8: else 415), at most `maxBytes`
   * (else 413), no deeper than MAX_BODY_DEPTH and free of NUL and lone surrogates, and pass this schema (else
   * 400 with one entry per field).
   */
  schema: S;
  /**
   * Largest body in bytes, fixed or from the invocation's config.
   * @default 1 MiB, what one SQS message takes
   */
  maxBytes?: number | ((config: CV) => number);
}

/** A body no larger than one SQS message, unless a route says otherwise. */
const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** Header names in lower case: API Gateway sends them so, a hand-made or test event may not. */
export function lowerCaseHeaders(
  headers: Record<string, string | undefined> | undefined,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** The body a route reads: content type, size, JSON, schema, in that order, each refused with its own 4xx. */
export function readBody<S extends z.ZodType, CV>(
  event: HttpEvent,
  headers: Record<string, string | undefined>,
  body: BodyOptions<S, CV> | undefined,
  config: CV,
): z.output<S> | unknown {
  const bytes = bodyBytes(event);
  if (!body) return bytes === undefined ? undefined : parseJsonBody(bytes);
  const { schema, maxBytes = DEFAULT_MAX_BODY_BYTES } = body;
  checkJsonContentType(headers['content-type']);
  checkBodySize(bytes, typeof maxBytes === 'function' ? maxBytes(config) : maxBytes);
  const parsed = schema.safeParse(parseJsonBody(bytes));
  if (!parsed.success) {
    throw badRequest('the request body is invalid', classifyError(parsed.error, 'request').fields);
  }
  return parsed.data;
}

/** Checks the body before the handler (after `loadConfig`, whose values `maxBytes` may read), as `body` on the context. */
export function validateBody<S extends z.ZodType, CV>(options: BodyOptions<S, CV>): HttpMiddleware<CV> {
  return {
    name: 'lambdaInfraValidateBody',
    before: (request) => {
      const { event, context } = request;
      context.body = readBody(event, lowerCaseHeaders(event.headers), options, context.config);
    },
  };
}

/** Seconds a client should wait: until an open circuit's next probe, else one. */
function retryAfterSeconds(error: unknown): number {
  const open = error instanceof BreakerOpenError ? error : (error as { cause?: unknown })?.cause;
  if (open instanceof BreakerOpenError && Number.isFinite(open.retryAfterMs)) {
    return Math.max(1, Math.ceil(open.retryAfterMs / 1_000));
  }
  return 1;
}

/** Turns a failure into the response: 4xx for bad input, 503 for what a retry may fix, 500 otherwise. */
export function errorResponse(error: unknown, requestId: string): HttpResponse {
  if (error instanceof RequestRejected) {
    logger.info('request rejected', { status: error.status, error: error.toJSON() });
    return json(error.status, { message: error.message, errors: error.fields, requestId });
  }
  const infra = classifyError(error, 'handler');
  const zod = (error as { name?: unknown } | null)?.name === 'ZodError';
  if (infra.type === 'validation' && (infra.component === 'request' || zod)) {
    logger.info('request rejected', { error: infra.toJSON() });
    const message = zod ? 'the request is invalid' : infra.message;
    return json(400, { message, errors: infra.fields, requestId });
  }
  eventMetrics.errors(infra.type);
  if (infra.retryable) {
    logger.warn('request failed on a dependency; the client may retry', { error: infra.toJSON() });
    return json(
      503,
      { message: 'Service temporarily unavailable', requestId },
      { 'retry-after': String(retryAfterSeconds(error)) },
    );
  }
  logger.error('request failed', { error: infra.toJSON(), cause: infra.cause as Error });
  tracing.recordError(infra);
  return json(500, { message: 'Internal server error', requestId });
}

/**
 * Maps an error to its response in `onError`: 400 / 413 / 415 / … for a request refused (`RequestRejected`, a
 * schema), 503 with `Retry-After` for a retryable failure of a dependency or of config, 500 with the request id
 * and nothing of the error otherwise. Use it last: the middlewares used before it then see the mapped response
 * in their own `onError` (and `request.error` still holds what was thrown).
 */
export function httpErrorResponses<CV>(): HttpMiddleware<CV> {
  return {
    name: 'lambdaInfraHttpErrorResponses',
    onError: (request) => {
      // A middleware used after this one may have answered the error already.
      request.response ??= errorResponse(request.error, request.context.awsRequestId);
    },
  };
}

/** How long `GET /health` waits for config before it reports without it. */
const HEALTH_CONFIG_WAIT_MS = 1_000;

/**
 * Answers `GET {path}` with the health report, also when config cannot be loaded (config is asked for first, at
 * most 1 s, so that what is wrong with it is in the report): 200 healthy or degraded, 503 unhealthy.
 */
export function healthRoute<CV>(
  health: Health,
  options: { path?: string; config?: () => Promise<unknown> } = {},
): HttpMiddleware<CV> {
  const path = options.path ?? '/health';
  return {
    name: 'lambdaInfraHealthRoute',
    before: async (request) => {
      const { event } = request;
      if (event.requestContext.http.method.toUpperCase() !== 'GET' || event.rawPath !== path)
        return undefined;
      if (options.config) {
        await withDeadline(options.config(), Date.now() + HEALTH_CONFIG_WAIT_MS, 'loading config').catch(
          () => undefined,
        );
      }
      const report = await health.check();
      // An early answer skips every `after`: it is counted, and the correlation id put on it, here.
      countHandled(request.context);
      await endEarly(request);
      return json(report.status === 'unhealthy' ? 503 : 200, report, {
        [CORRELATION_HEADER]: request.context.correlationId,
      });
    },
  };
}
