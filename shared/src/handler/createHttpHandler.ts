import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import type { Config } from '../config/index.ts';
import { InfraError } from '../errors/index.ts';
import type { Health } from '../health/index.ts';
import { withPowertools } from '../observability/index.ts';
import {
  type BodyOptions,
  type ConfigValues,
  configLoader,
  correlationId,
  DEFAULT_TIME_MARGIN_MS,
  type HttpContext,
  type HttpEvent,
  type HttpMiddleware,
  type HttpResponse,
  healthRoute,
  httpErrorResponses,
  httpRequest,
  loadConfig,
  lowerCaseHeaders,
  readBody,
  requestDeadline,
  validateBody,
} from './middleware.ts';
import { badRequest, json, RequestRejected } from './request.ts';
import { RouteTable } from './router.ts';

export type { BodyOptions, HttpEvent, HttpResponse };
export { badRequest, RequestRejected };

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

export interface HandlerContext<TConfig> {
  /** The handler's config, each component validated and within its TTL. */
  config: TConfig;
  lambda: Context;
}

type Answer = Promise<HttpResult | undefined> | HttpResult | undefined;

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
  /**
   * A team's own middlewares (auth, CORS, …), run after the correlation id and the health route and before config
   * and the body are read; the error mapping runs before their `onError`, so they see the mapped response there
   * (and `request.error`, what was thrown): a CORS middleware puts its headers on a 400 or a 503 too.
   */
  middlewares?: HttpMiddleware<ConfigValues<C>>[];
}

/**
 * A handler for API Gateway HTTP API (v2) and Lambda Function URL events, composed of this module's middlewares:
 * Powertools logging, tracing and metrics, then `httpRequest()`, `correlationId()`, `requestDeadline()`,
 * `healthRoute()`, the team's own `middlewares`, `loadConfig()`, `validateBody()` and `httpErrorResponses()`, so
 * every failure is answered without internals. What it returns is a middy handler: a middleware added with `.use()`
 * comes after all of these (its `onError` sees the error before the mapping does, and may answer it itself).
 */
export function createHttpHandler<
  S extends z.ZodType | undefined = undefined,
  C extends Record<string, Config<unknown>> = Record<string, never>,
>(options: HttpHandlerOptions<S, C>) {
  type CV = ConfigValues<C>;
  if ((options.routes === undefined) === (options.handle === undefined)) {
    throw new InfraError('createHttpHandler: give either `routes` or `handle`', {
      type: 'config',
      component: 'handler',
    });
  }
  const marginMs = options.timeMarginMs ?? DEFAULT_TIME_MARGIN_MS;
  const table = options.routes ? new RouteTable(options.routes(routeFactory<CV>())) : undefined;
  const single = options.handle as HttpRoute<CV>['handle'] | undefined;
  const singleBody =
    options.handle && options.body
      ? { schema: options.body, ...(options.maxBodyBytes ? { maxBytes: options.maxBodyBytes } : {}) }
      : undefined;

  /** The route of the request, its handler's answer as a response. */
  const answer = async (event: HttpEvent, context: HttpContext<CV>): Promise<HttpResponse> => {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath;
    let handle = single!;
    let params: Record<string, string> = { ...(event.pathParameters as Record<string, string>) };
    let body = context.body;
    const headers = lowerCaseHeaders(event.headers);
    if (table) {
      const match = table.match(method, path);
      if (match === undefined) throw new RequestRejected(404, `no route for ${method} ${path.slice(0, 200)}`);
      if (!match.found) {
        const allowed = match.allowed.join(', ');
        return json(
          405,
          { message: `${method} is not allowed on ${path.slice(0, 200)}: use ${allowed}` },
          { allow: allowed },
        );
      }
      handle = match.found.handle;
      params = { ...params, ...match.params };
      body = readBody(event, headers, match.found.body, context.config);
    } else if (!singleBody) {
      body = readBody(event, headers, undefined, context.config);
    }
    const result = await context.deadline!.bound(
      Promise.resolve(
        handle(
          {
            body,
            method,
            path,
            headers,
            query: event.queryStringParameters ?? {},
            pathParameters: params,
            correlationId: context.correlationId,
            event,
          },
          { config: context.config, lambda: context },
        ),
      ),
      'the request',
    );
    return result
      ? result.body === undefined
        ? { statusCode: result.statusCode, ...(result.headers ? { headers: result.headers } : {}) }
        : json(result.statusCode, result.body, result.headers)
      : { statusCode: 204 };
  };

  const config = configLoader((options.config ?? {}) as C);
  // One middy chain, the Powertools middlewares first: a second, nested one costs a few µs of promises a request.
  return withPowertools<HttpEvent, HttpResponse>(
    answer as (event: HttpEvent, context: Context) => Promise<HttpResponse>,
  )
    .use(httpRequest())
    .use(correlationId())
    .use(requestDeadline({ timeMarginMs: marginMs }))
    .use(
      options.health ? [healthRoute(options.health, { config, path: options.healthPath ?? '/health' })] : [],
    )
    .use((options.middlewares ?? []) as HttpMiddleware[])
    .use(loadConfig((options.config ?? {}) as C, { timeMarginMs: marginMs }) as HttpMiddleware)
    .use(singleBody ? [validateBody(singleBody as BodyOptions<z.ZodType, unknown>) as HttpMiddleware] : [])
    .use(httpErrorResponses());
}
