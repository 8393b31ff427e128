// biome-ignore-all lint/suspicious/noExplicitAny: a team's own middy handler reads what the middlewares put on its context.
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import {
  correlationId,
  createHttpHandler,
  type HttpMiddleware,
  type HttpResponse,
  httpErrorResponses,
  loadConfig,
  RequestRejected,
  validateBody,
} from '@lambda-infra/shared/handler';
import middy from '@middy/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';

const local = useSsmEndpoint();
let emitted: Emitted;
beforeEach(() => {
  emitted = captureConsole();
});
afterEach(() => emitted.restore());

const parse = (body: string | undefined) => JSON.parse(body ?? 'null');

/** A team's own middleware: it refuses a request without a bearer token, before config or the body are read. */
const auth: HttpMiddleware = {
  before: ({ event }) => {
    if (!event.headers?.authorization?.startsWith('Bearer ')) {
      throw new RequestRejected(401, 'a bearer token is required', [
        { path: 'authorization', message: 'is missing', rule: 'required' },
      ]);
    }
  },
};

/** A team's own middleware that records what its `onError` sees. */
function errorProbe() {
  const seen: { status?: number; error?: unknown; correlationId?: string }[] = [];
  const middleware: HttpMiddleware = {
    onError: (request) => {
      seen.push({
        status: request.response?.statusCode,
        error: request.error,
        correlationId: request.context.correlationId,
      });
    },
  };
  return { seen, middleware };
}

/** CORS as a team adds it: on every response, mapped errors included. */
const addOrigin = (request: { response: HttpResponse | null | undefined }) => {
  if (request.response) {
    request.response.headers = { ...request.response.headers, 'access-control-allow-origin': '*' };
  }
};
const cors: HttpMiddleware = { after: addOrigin, onError: addOrigin };

const greeting = z.object({ name: z.string().min(1) });

describe('createHttpHandler with a team’s own middlewares', () => {
  it('gives a middleware of its own the mapped error in onError: 503 with Retry-After for a dependency down', async () => {
    const probe = errorProbe();
    const handler = createHttpHandler({
      middlewares: [auth, probe.middleware],
      handle: () => {
        throw new InfraError('redis at 10.0.0.7:6379 refused the connection', {
          type: 'connection',
          component: 'cache',
        });
      },
    });

    const response = await handler(
      httpEvent({ headers: { authorization: 'Bearer t', 'x-correlation-id': 'corr-mw-1' } }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'retry-after': '1', 'x-correlation-id': 'corr-mw-1' });
    expect(response.body).not.toContain('10.0.0.7');
    expect(probe.seen).toHaveLength(1);
    expect(probe.seen[0]).toMatchObject({ status: 503, correlationId: 'corr-mw-1' });
    expect(probe.seen[0]!.error).toBeInstanceOf(InfraError);
  });

  it("maps what a team's middleware throws, before config is read and the handler runs", async () => {
    const probe = errorProbe();
    let ran = false;
    const settings = defineConfig({
      component: 'settings',
      schema: z.object({ shout: z.boolean() }),
      source: new ConfigSource({ env: 'test', service: 'mw', client: local.ssm, environment: {} }),
    });
    const handler = createHttpHandler({
      config: { settings },
      middlewares: [auth, probe.middleware],
      handle: () => {
        ran = true;
        return { statusCode: 200 };
      },
    });

    const response = await handler(httpEvent(), lambdaContext());

    expect(response.statusCode).toBe(401);
    expect(parse(response.body)).toMatchObject({
      message: 'a bearer token is required',
      errors: [{ path: 'authorization', rule: 'required' }],
    });
    expect(probe.seen.map((s) => s.status)).toEqual([401]);
    expect(ran).toBe(false);
    expect(local.endpoint.calls()).toBe(0);
  });

  it('lets a CORS middleware of its own put its headers on every response, a refused body and a 503 included', async () => {
    const handler = createHttpHandler({
      body: greeting,
      middlewares: [cors],
      handle: ({ body }) => {
        if (body.name === 'down') throw new InfraError('db down', { type: 'connection', component: 'db' });
        return { statusCode: 200, body: { hello: body.name } };
      },
    });

    const ok = await handler(httpEvent({ body: { name: 'Ada' } }), lambdaContext());
    const refused = await handler(httpEvent({ body: { name: '' } }), lambdaContext());
    const down = await handler(httpEvent({ body: { name: 'down' } }), lambdaContext());

    expect([ok.statusCode, refused.statusCode, down.statusCode]).toEqual([200, 400, 503]);
    for (const response of [ok, refused, down]) {
      expect(response.headers?.['access-control-allow-origin']).toBe('*');
      expect(response.headers?.['x-correlation-id']).toBeDefined();
    }
  });

  it('gives a middleware added with .use() what was thrown first, and keeps its own answer to it', async () => {
    const seen: unknown[] = [];
    const handler = createHttpHandler({
      handle: ({ path }) => {
        throw new InfraError(`teapot ${path.slice(1)}`, { type: 'internal', component: 'kitchen' });
      },
    }).use({
      onError: (request) => {
        seen.push(request.error);
        if (String(request.error?.message).includes('short')) {
          request.response = { statusCode: 418, body: JSON.stringify({ message: 'short and stout' }) };
        }
      },
    });

    const answered = await handler(httpEvent({ path: '/short' }), lambdaContext());
    const mapped = await handler(httpEvent({ path: '/tall' }), lambdaContext());

    expect(seen.map((e) => (e as Error).message)).toEqual(['teapot short', 'teapot tall']);
    expect(answered.statusCode).toBe(418);
    expect(answered.headers?.['x-correlation-id']).toBeDefined();
    expect(mapped.statusCode).toBe(500);
    expect(parse(mapped.body)).toEqual({ message: 'Internal server error', requestId: expect.any(String) });
  });
});

describe("the handler's middlewares on a team's own middy handler", () => {
  it('read the correlation id, config from SSM and the body, and map a failure in onError', async () => {
    await local.ssm.send(
      new PutParameterCommand({
        Name: '/config/test/own/greeting',
        Value: JSON.stringify({ text: 'hi' }),
        Type: 'String',
        Overwrite: true,
      }),
    );
    const text = defineConfig({
      component: 'greeting',
      schema: z.object({ text: z.string() }),
      source: new ConfigSource({ env: 'test', service: 'own', client: local.ssm, environment: {} }),
    });
    const handler = middy(
      async (_event: unknown, context: any): Promise<HttpResponse> => ({
        statusCode: 200,
        body: JSON.stringify({ message: `${context.config.text.text}, ${context.body.name}` }),
      }),
    )
      .use(correlationId())
      .use(loadConfig({ text }))
      .use(validateBody({ schema: greeting, maxBytes: 64 }))
      .use(httpErrorResponses());

    const ok = await handler(
      httpEvent({ body: { name: 'Ada' }, headers: { 'x-correlation-id': 'own-1' } }) as never,
      lambdaContext() as never,
    );
    const tooBig = await handler(
      httpEvent({ body: { name: 'x'.repeat(100) } }) as never,
      lambdaContext() as never,
    );
    const invalid = await handler(httpEvent({ body: { name: '' } }) as never, lambdaContext() as never);

    expect(ok).toMatchObject({ statusCode: 200, headers: { 'x-correlation-id': 'own-1' } });
    expect(parse(ok.body)).toEqual({ message: 'hi, Ada' });
    expect(tooBig.statusCode).toBe(413);
    expect(invalid.statusCode).toBe(400);
    expect(parse(invalid.body).errors).toEqual([
      expect.objectContaining({ path: 'name', rule: 'too_small' }),
    ]);
    expect(invalid.headers?.['x-correlation-id']).toBeDefined();
  });

  it('answer 503 with Retry-After when config cannot be read, naming no internals', async () => {
    const missing = defineConfig({
      component: 'required',
      schema: z.object({ url: z.string() }),
      source: new ConfigSource({ env: 'test', service: 'own', client: local.ssm, environment: {} }),
    });
    const handler = middy(async (): Promise<HttpResponse> => ({ statusCode: 200 }))
      .use(correlationId())
      .use(loadConfig({ missing }))
      .use(httpErrorResponses());

    const response = await handler(httpEvent() as never, lambdaContext() as never);

    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'retry-after': '1' });
    expect(response.body).not.toContain('url');
  });
});
