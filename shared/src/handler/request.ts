import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type FieldError, InfraError } from '../errors/index.ts';
import { bodyShapeProblem, MAX_BODY_DEPTH } from '../mq/limits.ts';

/**
 * A request the handler refuses, with the status that says why (400, 413, 415, …): the one error type that
 * becomes a 4xx response with its message and fields. Never retryable: the same request fails the same way.
 */
export class RequestRejected extends InfraError {
  readonly status: number;

  constructor(status: number, message: string, fields: FieldError[] = []) {
    super(message, { type: 'validation', component: 'request', fields, code: `HTTP_${status}` });
    this.status = status;
  }
}

/** An error that answers 400: use it for input the schema could not judge. */
export function badRequest(message: string, fields: FieldError[] = []): RequestRejected {
  return new RequestRejected(400, message, fields);
}

/** `application/json`, `application/problem+json`, … with no charset or UTF-8: the bodies a JSON route reads. */
const JSON_MEDIA_TYPE = /^application\/([a-z0-9.+-]+\+)?json$/;

/** Refuses a body that is not JSON by its content type, with 415. */
export function checkJsonContentType(contentType: string | undefined): void {
  const [media = '', ...parameters] = (contentType ?? '').split(';').map((p) => p.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith('charset='))?.slice('charset='.length);
  if (JSON_MEDIA_TYPE.test(media) && (charset === undefined || charset.replace(/"/g, '') === 'utf-8')) return;
  const got = contentType === undefined ? 'none' : JSON.stringify(contentType.slice(0, 100));
  throw new RequestRejected(415, `the request body must be JSON: content-type is ${got}`, [
    { path: 'content-type', message: 'must be application/json (UTF-8)', rule: 'media_type' },
  ]);
}

/** The body's bytes as sent, base64 undone; undefined for no body. */
export function bodyBytes(event: { body?: string; isBase64Encoded?: boolean }): Buffer | undefined {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** Refuses a body over `maxBytes` with 413, before it is parsed. */
export function checkBodySize(bytes: Buffer | undefined, maxBytes: number): void {
  if (bytes === undefined || bytes.length <= maxBytes) return;
  throw new RequestRejected(
    413,
    `the request body is ${bytes.length} bytes; at most ${maxBytes} are accepted`,
    [{ path: '(body)', message: `must be at most ${maxBytes} bytes`, rule: 'max_size' }],
  );
}

/** Where a string or key holds text no store keeps as sent: NUL (PostgreSQL refuses it) or a lone surrogate. */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!text.isWellFormed()) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

/** The first string or key that `textProblem` refuses, with its path; iterative, like `bodyShapeProblem`. */
function firstTextProblem(value: unknown): FieldError | undefined {
  const stack: { node: unknown; path: string }[] = [{ node: value, path: '' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (typeof node === 'string') {
      const problem = textProblem(node);
      if (problem) return { path: path || '(root)', message: problem, rule: 'text' };
    } else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        const childPath = Array.isArray(node) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
        const problem = textProblem(key);
        if (problem) return { path: childPath, message: `its key ${problem}`, rule: 'text' };
        stack.push({ node: child, path: childPath });
      }
    }
  }
  return undefined;
}

/**
 * The body as JSON: 400 when it is not JSON, nested deeper than MAX_BODY_DEPTH, or holds NUL or lone surrogates
 * anywhere. What passes can be validated, queued and stored as it is.
 */
export function parseJsonBody(bytes: Buffer | undefined): unknown {
  if (bytes === undefined) {
    throw badRequest('the request needs a JSON body', [
      { path: '(body)', message: 'is required', rule: 'required' },
    ]);
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (error) {
    const invalidUtf8 = error instanceof TypeError;
    throw badRequest('the request body is not valid JSON', [
      {
        path: '(body)',
        message: invalidUtf8 ? 'is not valid UTF-8' : (error as Error).message,
        rule: invalidUtf8 ? 'utf8' : 'json',
      },
    ]);
  }
  const shape = bodyShapeProblem(value, MAX_BODY_DEPTH);
  if (shape)
    throw badRequest(`the request body ${shape}`, [{ path: '(body)', message: shape, rule: 'depth' }]);
  const problem = firstTextProblem(value);
  if (problem) throw badRequest(`the request body is invalid: ${problem.path} ${problem.message}`, [problem]);
  return value;
}

/** A JSON response. */
export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}
