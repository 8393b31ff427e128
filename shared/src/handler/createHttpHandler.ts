import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  LambdaFunctionURLEvent,
} from 'aws-lambda';
import type { z } from 'zod';
import type { Config } from '../config/index.ts';
import {
  classifyError,
  type FieldError,
  InfraError,
  invocationDeadline,
  withDeadline,
} from '../errors/index.ts';
import type { Health } from '../health/index.ts';
import {
  CORRELATION_HEADER,
  correlationIdFromEvent,
  eventMetrics,
  logger,
  setCorrelationId,
  tracer,
} from '../observability/index.ts';
import { withPowertools } from './withPowertools.ts';

/** HTTP API (payload v2) and Function URL events share this shape. */
export type HttpEvent = APIGatewayProxyEventV2 | LambdaFunctionURLEvent;
export type HttpResponse = APIGatewayProxyStructuredResultV2;

export interface HttpRequest<TBody> {
  /** The parsed JSON body, validated by the `body` schema when one is given. */
  body: TBody;
  method: string;
  path: string;
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

export interface HttpHandlerOptions<
  S extends z.ZodType | undefined,
  C extends Record<string, Config<unknown>>,
> {
  /** Schema of the JSON body; a body that fails it is answered 400 with the field errors. */
  body?: S;
  /** Components read before each invocation (no SSM call within their TTL). */
  config?: C;
  handle(
    request: HttpRequest<S extends z.ZodType ? z.output<S> : unknown>,
    context: HandlerContext<ConfigValues<C>>,
  ): Promise<HttpResult | undefined> | HttpResult | undefined;
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

/** An error that answers 400: use it for input the schema could not judge. */
export function badRequest(message: string, fields: FieldError[] = []): InfraError {
  return new InfraError(message, { type: 'validation', component: 'request', fields });
}

function json(statusCode: number, body: unknown, headers: Record<string, string>): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

function parseBody(event: HttpEvent): unknown {
  if (event.body === undefined || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest('the request body is not valid JSON', [
      { path: '(body)', message: (error as Error).message, rule: 'json' },
    ]);
  }
}

/** Turns a failure into the response: 400 for bad input, 503 for what a retry may fix, 500 otherwise. */
function errorResponse(error: unknown, requestId: string, headers: Record<string, string>): HttpResponse {
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
      { ...headers, 'retry-after': '1' },
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

  const answer = async (
    event: HttpEvent,
    lambda: Context,
    correlationId: string,
    headers: Record<string, string>,
  ): Promise<HttpResponse> => {
    const method = event.requestContext.http.method;
    if (health && method === 'GET' && event.rawPath === health.path) return answerHealth(headers);
    const config = await loadConfig();
    let body = parseBody(event);
    if (options.body) {
      const parsed = options.body.safeParse(body);
      if (!parsed.success) {
        throw badRequest('the request body is invalid', classifyError(parsed.error, 'request').fields);
      }
      body = parsed.data;
    }
    const result = await options.handle(
      {
        body: body as never,
        method,
        path: event.rawPath,
        headers: event.headers ?? {},
        query: event.queryStringParameters ?? {},
        pathParameters: event.pathParameters ?? {},
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
    const correlationId = correlationIdFromEvent(event) ?? lambda.awsRequestId;
    setCorrelationId(correlationId);
    const headers = { [CORRELATION_HEADER]: correlationId };
    const deadline = invocationDeadline(lambda, marginMs);
    let response: HttpResponse;
    try {
      response = await withDeadline(answer(event, lambda, correlationId, headers), deadline, 'the request');
    } catch (error) {
      response = errorResponse(error, lambda.awsRequestId, headers);
    }
    eventMetrics.handled();
    eventMetrics.handlingDuration(performance.now() - started);
    return response;
  });
}
