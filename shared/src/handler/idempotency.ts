import { createHash } from 'node:crypto';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, Context } from 'aws-lambda';
import type { Cache } from '../cache/index.ts';
import type { HttpRequest } from './createHttpHandler.ts';
import { badRequest, RequestRejected } from './request.ts';

/** A client's retry key, as Stripe and the IETF draft use it: printable ASCII, no spaces, at most 255. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's `Idempotency-Key`, checked (400 when malformed: CR/LF, spaces, too long), or undefined. */
export function idempotencyKeyOf(request: HttpRequest<unknown>): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (!KEY.test(key)) {
    throw badRequest('the Idempotency-Key header is invalid', [
      {
        path: 'idempotency-key',
        message: 'must be 1-255 printable ASCII characters without spaces',
        rule: 'format',
      },
    ]);
  }
  return key;
}

/** Who signed the request (IAM), so that one caller's key never answers another's request. */
export function callerOf(request: HttpRequest<unknown>): string {
  const iam = (request.event as APIGatewayProxyEventV2WithIAMAuthorizer).requestContext.authorizer?.iam;
  return iam?.userArn ?? iam?.callerId ?? 'anonymous';
}

/** A UUID (version 8, RFC 9562) derived from the caller and their key: each replay names the same thing. */
export function uuidFromKey(caller: string, key: string): string {
  const hex = createHash('sha256').update(`${caller}\n${key}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface KeyedCall<I> {
  caller: string;
  key: string;
  /** What the client sent: the same key with another input is refused with 422. */
  input: I;
  lambda: Context;
}

export interface IdempotentByKeyOptions {
  /** Names the records: `{namespace}idempotency:{name}#…` in the cache. */
  name: string;
  cache: Cache;
  /** How long a key answers with its first result. */
  expiresAfterSeconds: number;
}

/** The input's fingerprint, kept with its result. */
function fingerprint(input: unknown): string {
  return createHash('sha256').update(JSON.stringify(input)).digest('base64url');
}

/** Powertools' error names for a record store that cannot be reached: the call may run without it. */
export const IDEMPOTENCY_STORE_UNREACHABLE = 'IdempotencyPersistenceLayerError';

/**
 * `fn` run once per caller and key (Powertools Idempotency on the cache's Redis, every command bounded): a retry
 * gets the first call's result without running `fn` again; the same key with another input is answered 422;
 * a call while the first is still running, 409. When the records cannot be reached the error is thrown with
 * Powertools' name (`IDEMPOTENCY_STORE_UNREACHABLE`), for the caller to decide whether to run without them.
 *
 * The input's fingerprint is kept in the result rather than through Powertools' `payloadValidationJmesPath`:
 * its CachePersistenceLayer (2.35) drops the validation hash when it completes a record, which would refuse
 * every replay.
 */
export function idempotentByKey<I, R>(
  fn: (input: I) => Promise<R>,
  options: IdempotentByKeyOptions,
): (call: KeyedCall<I>) => Promise<R> {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: '[caller, key]',
    expiresAfterSeconds: options.expiresAfterSeconds,
  });
  const once = makeIdempotent(
    async (call: { caller: string; key: string; input: I }) => ({
      result: await fn(call.input),
      fingerprint: fingerprint(call.input),
    }),
    {
      persistenceStore: new CachePersistenceLayer({ client: options.cache.recordStore() }),
      config,
      keyPrefix: `${options.cache.namespace}idempotency:${options.name}`,
    },
  );
  return async ({ caller, key, input, lambda }) => {
    config.registerLambdaContext(lambda);
    let answer: { result: R; fingerprint: string };
    try {
      answer = await once({ caller, key, input });
    } catch (error) {
      if ((error as Error).name === 'IdempotencyAlreadyInProgressError') {
        throw new RequestRejected(409, 'a request with this Idempotency-Key is still in progress; retry', [
          { path: 'idempotency-key', message: 'is in use by a request in progress', rule: 'idempotency' },
        ]);
      }
      throw error;
    }
    if (answer.fingerprint !== fingerprint(input)) {
      throw new RequestRejected(422, 'this Idempotency-Key was used with another body', [
        { path: 'idempotency-key', message: 'was used with another body', rule: 'idempotency' },
      ]);
    }
    return answer.result;
  };
}
