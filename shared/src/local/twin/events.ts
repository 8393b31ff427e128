import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, SQSEvent, SQSRecord } from 'aws-lambda';
import type { TwinRoute } from './template.ts';

const TEXT = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|[^;]*\+(json|xml)))/i;

/**
 * A request target as a URL on this host: `//x/y` is the path `//x/y`, not the host `x` (as `new URL` would
 * read it against a base).
 */
export function requestUrl(target: string): URL {
  const path = target.startsWith('/') ? target : `/${target}`;
  return new URL(`http://localhost${path}`);
}

/** A path segment decoded, or as sent when it is not valid percent-encoding. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export interface HttpRequestShape {
  method: string;
  /** The path with its query string, as a client sends it: `/events/1?x=y`. */
  url: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: Buffer | string;
  sourceIp?: string;
  routeKey?: string;
  pathParameters?: Record<string, string>;
  domainName?: string;
}

/**
 * The event API Gateway's HTTP API (payload format 2.0) hands a Lambda integration: header names lower case
 * and repeated values joined with a comma, cookies apart, query parameters decoded (repeated ones joined), and
 * the body as text when its content type is text, JSON, XML or a form, else base64.
 */
export function httpApiEvent(request: HttpRequestShape): APIGatewayProxyEventV2 {
  const url = requestUrl(request.url);
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    if (key === 'cookie') {
      cookies = (Array.isArray(value) ? value.join('; ') : value).split(/;\s*/).filter(Boolean);
      continue;
    }
    headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value;
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const text = body !== undefined && TEXT.test(headers['content-type'] ?? 'text/plain');
  const now = new Date();
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: request.routeKey ?? '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(request.pathParameters && Object.keys(request.pathParameters).length > 0
      ? { pathParameters: request.pathParameters }
      : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: request.domainName ?? headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: request.method.toUpperCase(),
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: request.routeKey ?? '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined && body.length > 0
      ? { body: text ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !text }
      : { isBase64Encoded: false }),
  } as APIGatewayProxyEventV2;
}

/** An SQS event of one record per body, as the event source mapping hands a batch to the function. */
export function sqsEvent(options: {
  bodies: string[];
  queueArn?: string;
  attributes?: Record<string, string>;
  messageGroupId?: string;
}): SQSEvent {
  const arn = options.queueArn ?? 'arn:aws:sqs:us-east-1:000000000000:local-queue';
  const now = String(Date.now());
  return {
    Records: options.bodies.map(
      (body): SQSRecord => ({
        messageId: randomUUID(),
        receiptHandle: randomUUID(),
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: now,
          SenderId: 'local',
          ApproximateFirstReceiveTimestamp: now,
          ...(options.messageGroupId ? { MessageGroupId: options.messageGroupId } : {}),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(options.attributes ?? {}).map(([name, value]) => [
            name,
            { dataType: 'String', stringValue: value, stringListValues: [], binaryListValues: [] },
          ]),
        ),
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: arn,
        awsRegion: arn.split(':')[3] ?? 'us-east-1',
      }),
    ),
  };
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** A route matched to a request, with its path parameters. */
export interface RouteMatch {
  route: TwinRoute;
  pathParameters: Record<string, string>;
}

/**
 * The route API Gateway picks for a request: a route of the request's method before `ANY`, the most specific
 * path first (more literal segments, then a `{name}` before a greedy `{name+}`), `$default` last.
 */
export function matchRoute(routes: TwinRoute[], method: string, path: string): RouteMatch | undefined {
  const segments = path.split('/').slice(1);
  let best: { match: RouteMatch; score: number[] } | undefined;
  for (const route of routes) {
    if (route.path === '$default') continue;
    if (route.method !== 'ANY' && route.method !== method.toUpperCase()) continue;
    const pattern = route.path.split('/').slice(1);
    const pathParameters: Record<string, string> = {};
    let literal = 0;
    let greedy = 0;
    let matched = true;
    for (let i = 0; i < pattern.length; i++) {
      const part = pattern[i]!;
      const greedyName = /^\{(.+)\+\}$/.exec(part)?.[1];
      if (greedyName) {
        if (i !== pattern.length - 1 || segments.length <= i) matched = false;
        else pathParameters[greedyName] = decodeSegment(segments.slice(i).join('/'));
        greedy = 1;
        break;
      }
      const segment = segments[i];
      if (segment === undefined) {
        matched = false;
        break;
      }
      const name = /^\{(.+)\}$/.exec(part)?.[1];
      if (name) {
        if (segment === '') matched = false;
        else pathParameters[name] = decodeSegment(segment);
      } else if (part === segment) literal++;
      else matched = false;
      if (!matched) break;
    }
    if (matched && !greedy && segments.length !== pattern.length) matched = false;
    if (!matched) continue;
    const score = [literal, 1 - greedy, route.method === 'ANY' ? 0 : 1];
    if (!best || compareScores(score, best.score) > 0) best = { match: { route, pathParameters }, score };
  }
  if (best) return best.match;
  const fallback = routes.find((r) => r.path === '$default');
  return fallback ? { route: fallback, pathParameters: {} } : undefined;
}
