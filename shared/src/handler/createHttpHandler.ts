import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  LambdaFunctionURLEvent,
} from 'aws-lambda';
import type { z } from 'zod';
import { BreakerOpenError } from '../breaker/index.ts';
import type { Config } from '../config/index.ts';
import { classifyError, InfraError, invocationDeadline, withDeadline } from '../errors/index.ts';
import type { Health } from '../health/index.ts';
import {
  CORRELATION_HEADER,
  correlationIdFromEvent,
  eventMetrics,
  logger,
  setCorrelationId,
  tracer,
  withCorrelationId,
} from '../observability/index.ts';
import {
  badRequest,
  bodyBytes,
  checkBodySize,
  checkJsonContentType,
  parseJsonBody,
  RequestRejected,
} from './request.ts';
import { RouteTable } from './router.ts';
import { withPowertools } from './withPowertools.ts';

export { badRequest, RequestRejected };

/** HTTP API (payload v2) and Function URL events share this shape. */
export type HttpEvent = APIGatewayProxyEventV2 | LambdaFunctionURLEvent;
export type HttpResponse = APIGatewayProxyStructuredResultV2;

export interface HttpRequest<TBody> {
  /** The parsed JSON body, validated by the `body` schema when one is given. */
  body: TBody;
  method: string;
  path: string;
  /** Header names in lower case, as API Gateway passes them. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  pathParameters: Record<string, string | undefined>;
  correlationId: string;
  event: HttpEvent;
}

export interface HttpResult {
  statusCode: number;
  /** Serialized as JSON; omit for an empty body. */
  body?: unknown;
  headers?: Record<string, string>;
}

type ConfigValues<T> = { [K in keyof T]: T[K] extends Config<infer V> ? V : never };

export interface HandlerContext<TConfig> {
  /** The handler's config, each component validated and within its TTL. */
  config: TConfig;
  lambda: Context;
}

type Answer = Promise<HttpResult | undefined> | HttpResult | undefined;

/** What a route or handler does with the body: JSON checked by a schema, within a size. */
export interface BodyOptions<S extends z.ZodType, CV> {
  /**
   * The body must be JSON (content-type `application/json` or `…+json`, UTF-8: else 415), at most `maxBytes`
   * (else 413), no deeper than MAX_BODY_DEPTH and free of NUL and lone surrogates, and pass this schema (else
   * 400 with one entry per field).
   */
  schema: S;
  /** Largest body in bytes, fixed or from the invocation's config. Default 1 MiB, what one SQS message takes. */
  maxBytes?: number | ((config: CV) => number);
}

/** One route: a method, a path in API Gateway's form (`/events/{id}`), what its body must be, its handler. */
export interface HttpRoute<CV> {
  readonly method: string;
  readonly pattern: string;
  readonly body?: BodyOptions<z.ZodType, CV>;
  handle(request: HttpRequest<unknown>, context: HandlerContext<CV>): Answer;
}

type RouteHandler<B, CV> = (request: HttpRequest<B>, context: HandlerContext<CV>) => Answer;

/** Makes routes typed by the handler's config: `route.get('/events/{id}', …)`, `route.post('/events', { schema }, …)`. */
export interface RouteFactory<CV> {
  get(pattern: string, handle: RouteHandler<undefined, CV>): HttpRoute<CV>;
  delete(pattern: string, handle: RouteHandler<undefined, CV>): HttpRoute<CV>;
  post<S extends z.ZodType>(
    pattern: string,
    body: BodyOptions<S, CV>,
    handle: RouteHandler<z.output<S>, CV>,
  ): HttpRoute<CV>;
  put<S extends z.ZodType>(
    pattern: string,
    body: BodyOptions<S, CV>,
    handle: RouteHandler<z.output<S>, CV>,
  ): HttpRoute<CV>;
  patch<S extends z.ZodType>(
    pattern: string,
    body: BodyOptions<S, CV>,
    handle: RouteHandler<z.output<S>, CV>,
  ): HttpRoute<CV>;
}

function routeFactory<CV>(): RouteFactory<CV> {
  const bare = (method: string) => (pattern: string, handle: RouteHandler<undefined, CV>) =>
    ({ method, pattern, handle }) as HttpRoute<CV>;
  const withBody =
    (method: string) =>
    <S extends z.ZodType>(pattern: string, body: BodyOptions<S, CV>, handle: RouteHandler<z.output<S>, CV>) =>
      ({ method, pattern, body, handle }) as HttpRoute<CV>;
  return {
    get: bare('GET'),
    delete: bare('DELETE'),
    post: withBody('POST'),
    put: withBody('PUT'),
    patch: withBody('PATCH'),
  };
}

export interface HttpHandlerOptions<
  S extends z.ZodType | undefined,
  C extends Record<string, Config<unknown>>,
> {
  /** With `handle`: schema of the JSON body; a body that fails it is answered 400 with the field errors. */
  body?: S;
  /** With `handle` and `body`: the largest body in bytes (413 beyond it); default 1 MiB. */
  maxBodyBytes?: number | ((config: ConfigValues<C>) => number);
  /** Components read before each invocation (no SSM call within their TTL). */
  config?: C;
  /**
   * The routes: an unknown path is answered 404, a known path with another method 405 with `Allow`. Give
   * either `routes` or `handle`.
   */
  routes?: (route: RouteFactory<ConfigValues<C>>) => HttpRoute<ConfigValues<C>>[];
  /** One handler for every request. */
  handle?(
    request: HttpRequest<S extends z.ZodType ? z.output<S> : unknown>,
    context: HandlerContext<ConfigValues<C>>,
  ): Answer;
  /**
   * Answers `GET /health` (or `healthPath`) itself, also when config cannot be loaded: 200 while healthy or
   * degraded, 503 when unhealthy, one entry per check, and the config check says what is wrong with it.
   */
  health?: Health;
  healthPath?: string;
  /**
   * Time kept back from the invocation's remaining time: a request still waiting on a dependency when only this
   * much is left is answered 503 with Retry-After instead of running into the function's timeout. Default 500 ms.
   */
  timeMarginMs?: number;
}

/** How long `GET /health` waits for config before it reports without it. */
const HEALTH_CONFIG_WAIT_MS = 1_000;

/** A body no larger than one SQS message, unless a route says otherwise. */
const DEFAULT_MAX_BODY_BYTES = 1_048_576;

function json(statusCode: number, body: unknown, headers: Record<string, string>): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** Whether the event is one this handler can answer: HTTP API payload 2.0 or a Function URL. */
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

/** Header names in lower case: API Gateway sends them so, a hand-made or test event may not. */
function lowerCaseHeaders(
  headers: Record<string, string | undefined> | undefined,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** Seconds a client should wait: until an open circuit's next probe, else one. */
function retryAfterSeconds(error: unknown): number {
  const open = error instanceof BreakerOpenError ? error : (error as { cause?: unknown })?.cause;
  if (open instanceof BreakerOpenError && Number.isFinite(open.retryAfterMs)) {
    return Math.max(1, Math.ceil(open.retryAfterMs / 1_000));
  }
  return 1;
}

/** Turns a failure into the response: 400 for bad input, 503 for what a retry may fix, 500 otherwise. */
function errorResponse(error: unknown, requestId: string, headers: Record<string, string>): HttpResponse {
  if (error instanceof RequestRejected) {
    logger.info('request rejected', { status: error.status, error: error.toJSON() });
    return json(error.status, { message: error.message, errors: error.fields, requestId }, headers);
  }
  const infra = classifyError(error, 'handler');
  const zod = (error as { name?: unknown } | null)?.name === 'ZodError';
  if (infra.type === 'validation' && (infra.component === 'request' || zod)) {
    logger.info('request rejected', { error: infra.toJSON() });
    const message = zod ? 'the request is invalid' : infra.message;
    return json(400, { message, errors: infra.fields, requestId }, headers);
  }
  eventMetrics.errors(infra.type);
  if (infra.retryable) {
    logger.warn('request failed on a dependency; the client may retry', { error: infra.toJSON() });
    return json(
      503,
      { message: 'Service temporarily unavailable', requestId },
      { ...headers, 'retry-after': String(retryAfterSeconds(error)) },
    );
  }
  logger.error('request failed', { error: infra.toJSON(), cause: infra.cause as Error });
  tracer.addErrorAsMetadata(infra);
  return json(500, { message: 'Internal server error', requestId }, headers);
}

/**
 * A handler for API Gateway HTTP API (v2) and Lambda Function URL events: Powertools logging, tracing and
 * metrics through middy, the correlation id on every log line and response, config read before each
 * invocation, the body parsed and validated, and every failure mapped to a response without internals.
 */
export function createHttpHandler<
  S extends z.ZodType | undefined = undefined,
  C extends Record<string, Config<unknown>> = Record<string, never>,
>(options: HttpHandlerOptions<S, C>) {
  const configEntries = Object.entries(options.config ?? {}) as [string, Config<unknown>][];

  const loadConfig = async (): Promise<ConfigValues<C>> => {
    const values = await Promise.all(configEntries.map(([, config]) => config.get()));
    return Object.fromEntries(configEntries.map(([key], i) => [key, values[i]])) as ConfigValues<C>;
  };
  const health = options.health
    ? { check: options.health, path: options.healthPath ?? '/health' }
    : undefined;
  const marginMs = options.timeMarginMs ?? 500;

  /** The health report; config is loaded first, so that what is wrong with it is in the report. */
  const answerHealth = async (headers: Record<string, string>): Promise<HttpResponse> => {
    // Bounded, so that a hung SSM still gets a report (its check times out on its own) rather than none.
    await withDeadline(loadConfig(), Date.now() + HEALTH_CONFIG_WAIT_MS, 'loading config').catch(
      () => undefined,
    );
    const report = await health!.check.check();
    return json(report.status === 'unhealthy' ? 503 : 200, report, headers);
  };

  if ((options.routes === undefined) === (options.handle === undefined)) {
    throw new InfraError('createHttpHandler: give either `routes` or `handle`', {
      type: 'config',
      component: 'handler',
    });
  }
  type CV = ConfigValues<C>;
  const table = options.routes ? new RouteTable(options.routes(routeFactory<CV>())) : undefined;
  const single: HttpRoute<CV> | undefined = options.handle
    ? {
        method: 'ANY',
        pattern: '/',
        handle: options.handle as HttpRoute<CV>['handle'],
        ...(options.body
          ? {
              body: {
                schema: options.body,
                ...(options.maxBodyBytes ? { maxBytes: options.maxBodyBytes } : {}),
              },
            }
          : {}),
      }
    : undefined;

  /** The body a route reads: content type, size, JSON, schema, in that order, each with its own 4xx. */
  const readBody = (
    event: HttpEvent,
    headers: Record<string, string | undefined>,
    route: HttpRoute<CV>,
    config: CV,
  ) => {
    const bytes = bodyBytes(event);
    if (!route.body) return bytes === undefined ? undefined : parseJsonBody(bytes);
    const { schema, maxBytes = DEFAULT_MAX_BODY_BYTES } = route.body;
    checkJsonContentType(headers['content-type']);
    checkBodySize(bytes, typeof maxBytes === 'function' ? maxBytes(config) : maxBytes);
    const parsed = schema.safeParse(parseJsonBody(bytes));
    if (!parsed.success) {
      throw badRequest('the request body is invalid', classifyError(parsed.error, 'request').fields);
    }
    return parsed.data;
  };

  const answer = async (
    event: HttpEvent,
    lambda: Context,
    correlationId: string,
    headers: Record<string, string>,
  ): Promise<HttpResponse> => {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath;
    if (health && method === 'GET' && path === health.path) return answerHealth(headers);
    let route = single;
    let params: Record<string, string> = { ...(event.pathParameters as Record<string, string>) };
    if (table) {
      const match = table.match(method, path);
      if (match === undefined) throw new RequestRejected(404, `no route for ${method} ${path.slice(0, 200)}`);
      if (!match.found) {
        const allowed = match.allowed.join(', ');
        return json(
          405,
          { message: `${method} is not allowed on ${path.slice(0, 200)}: use ${allowed}` },
          { ...headers, allow: allowed },
        );
      }
      route = match.found;
      params = { ...params, ...match.params };
    }
    const config = await loadConfig();
    const requestHeaders = lowerCaseHeaders(event.headers);
    const body = readBody(event, requestHeaders, route!, config);
    const result = await route!.handle(
      {
        body,
        method,
        path,
        headers: requestHeaders,
        query: event.queryStringParameters ?? {},
        pathParameters: params,
        correlationId,
        event,
      },
      { config, lambda },
    );
    return result
      ? result.body === undefined
        ? { statusCode: result.statusCode, headers: { ...headers, ...result.headers } }
        : json(result.statusCode, result.body, { ...headers, ...result.headers })
      : { statusCode: 204, headers };
  };

  return withPowertools<HttpEvent, HttpResponse>(async (event, lambda) => {
    const started = performance.now();
    const notHttp = notAnHttpEvent(event);
    if (notHttp) {
      // No HTTP client is waiting: whoever invoked the function gets the reason, and nothing else runs.
      logger.warn('event refused', { reason: notHttp });
      return json(400, { message: notHttp, requestId: lambda.awsRequestId }, {});
    }
    const correlationId = correlationIdFromEvent(event) ?? lambda.awsRequestId;
    setCorrelationId(correlationId);
    const headers = { [CORRELATION_HEADER]: correlationId };
    const deadline = invocationDeadline(lambda, marginMs);
    let response: HttpResponse;
    try {
      response = await withCorrelationId(correlationId, () =>
        withDeadline(answer(event, lambda, correlationId, headers), deadline, 'the request'),
      );
    } catch (error) {
      response = errorResponse(error, lambda.awsRequestId, headers);
    }
    eventMetrics.handled();
    eventMetrics.handlingDuration(performance.now() - started);
    return response;
  });
}
