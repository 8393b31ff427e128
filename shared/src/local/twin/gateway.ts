import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionPool, InvokeResult } from './containers.ts';
import { httpApiEvent, matchRoute, requestUrl } from './events.ts';
import type { TwinRoute } from './template.ts';

/** API Gateway's own limit on a request's payload. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface RequestLine {
  function?: string;
  correlationId?: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  coldStart?: boolean;
  error?: string;
}

export interface HttpApi {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
}

/** What API Gateway answers for a function's result, by payload format 2.0's rules. */
export function toHttpResponse(result: InvokeResult): {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
} {
  if (!result.ok) {
    return {
      status: 500,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"message":"Internal Server Error"}'),
    };
  }
  const value = result.value as {
    statusCode?: unknown;
    headers?: Record<string, unknown>;
    cookies?: string[];
    body?: unknown;
    isBase64Encoded?: boolean;
  } | null;
  // A result without a status code is the body of a 200, as JSON.
  if (!value || typeof value !== 'object' || typeof value.statusCode !== 'number') {
    const body = typeof value === 'string' ? value : JSON.stringify(value);
    return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body ?? '') };
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(value.headers ?? {})) headers[name.toLowerCase()] = String(v);
  if (value.cookies?.length) headers['set-cookie'] = value.cookies;
  const raw =
    typeof value.body === 'string' ? value.body : value.body === undefined ? '' : JSON.stringify(value.body);
  return {
    status: value.statusCode,
    headers,
    body: value.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw),
  };
}

/**
 * The HTTP API on localhost: each request matched to a route of the template and handed to its function as a
 * payload 2.0 event, its result answered as API Gateway would. Routes are looked up per request, so a new
 * template takes effect at once. IAM authorization is not checked locally.
 */
export async function startHttpApi(options: {
  port: number;
  host: string;
  routes: () => TwinRoute[];
  pool: (functionId: string) => FunctionPool | undefined;
  onRequest: (line: RequestLine) => void;
  /** How long a request waits for its function; default 30 s, API Gateway's limit for an HTTP API. */
  integrationTimeoutMs?: number;
}): Promise<HttpApi> {
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    const path = requestUrl(req.url ?? '/').pathname;
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        send(res, 413, '{"message":"Request Entity Too Large"}', { connection: 'close' });
        options.onRequest({ method, path, status: 413, durationMs: Date.now() - started });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    const match = matchRoute(options.routes(), method, path);
    const pool = match ? options.pool(match.route.functionId) : undefined;
    if (!match || !pool) {
      send(res, 404, '{"message":"Not Found"}');
      options.onRequest({ method, path, status: 404, durationMs: Date.now() - started });
      return;
    }
    const event = httpApiEvent({
      method,
      url: req.url ?? '/',
      headers: req.headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      routeKey: match.route.routeKey,
      pathParameters: match.pathParameters,
    });
    // API Gateway waits at most its integration timeout (30 s for an HTTP API), then answers 503 while the
    // function goes on.
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      pool.invoke(event, { requestId: event.requestContext.requestId }),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.integrationTimeoutMs ?? 30_000);
      }),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') {
      send(res, 503, '{"message":"Service Unavailable"}');
      options.onRequest({
        function: pool.fn.name,
        method,
        path,
        status: 503,
        durationMs: Date.now() - started,
        error: 'the integration timed out (API Gateway waits 30 s at most)',
      });
      return;
    }
    const response = toHttpResponse(result);
    res.writeHead(response.status, {
      ...response.headers,
      'apigw-requestid': event.requestContext.requestId,
    });
    res.end(response.body);
    const correlation = response.headers['x-correlation-id'];
    options.onRequest({
      function: pool.fn.name,
      ...(typeof correlation === 'string' ? { correlationId: correlation } : {}),
      method,
      path,
      status: response.status,
      durationMs: Date.now() - started,
      coldStart: result.coldStart,
      ...(result.ok ? {} : { error: `${result.error.errorType}: ${result.error.errorMessage}` }),
    });
  };
  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, '{"message":"Internal Server Error"}');
      else res.destroy(error as Error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
