import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import { badRequest, createHttpHandler, lazy } from '@lambda-infra/shared/handler';
import { getCorrelationId, logger } from '@lambda-infra/shared/observability';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ssmClient, useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';

let emitted: Emitted;

const local = useSsmEndpoint();

const eventBody = z.object({ type: z.string().min(1), payload: z.record(z.string(), z.unknown()) });

const echo = createHttpHandler({
  body: eventBody,
  handle: (request) => ({
    statusCode: 202,
    body: { accepted: request.body.type, correlationId: request.correlationId },
  }),
});

const parse = (body: string | undefined) => JSON.parse(body ?? 'null');

beforeEach(() => {
  emitted = captureConsole();
});

afterEach(() => emitted.restore());

describe('createHttpHandler', () => {
  // First in the file: the cold start belongs to the first invocation of the container.
  it('counts the cold start once, and every request as handled with its duration', async () => {
    await echo(httpEvent({ body: { type: 'a', payload: {} } }), lambdaContext());
    await echo(httpEvent({ body: { type: 'b', payload: {} } }), lambdaContext());

    const names = emitted.metrics().map((m) => m.name);
    expect(names.filter((n) => n === 'ColdStart')).toHaveLength(1);
    expect(emitted.metrics().find((m) => m.name === 'ColdStart')?.dimensions).toEqual({
      service: 'lambda-infra-test',
      function_name: 'events-api',
    });
    expect(names.filter((n) => n === 'EventsHandled')).toHaveLength(2);
    expect(names.filter((n) => n === 'EventHandlingDuration')).toHaveLength(2);
  });

  it("publishes a handler's own Powertools metrics beside the library's, one document each per invocation", async () => {
    const { metrics } = await import('@lambda-infra/shared/observability');
    const counting = createHttpHandler({
      handle: () => {
        metrics.addMetric('OrdersPlaced', 'Count', 2);
        return { statusCode: 200, body: {} };
      },
    });
    await counting(httpEvent({ method: 'GET', path: '/' }), lambdaContext());
    await echo(httpEvent({ body: { type: 'c', payload: {} } }), lambdaContext());

    const written = emitted.metrics();
    expect(written.filter((m) => m.name === 'OrdersPlaced')).toEqual([
      { name: 'OrdersPlaced', value: 2, dimensions: { service: 'lambda-infra-test' } },
    ]);
    expect(written.filter((m) => m.name === 'EventsHandled')).toHaveLength(2);
  });

  it('answers with the handler result as JSON and echoes the correlation id header', async () => {
    const response = await echo(
      httpEvent({
        body: { type: 'order.placed', payload: { id: 1 } },
        headers: { 'X-Correlation-Id': 'corr-123' },
      }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(202);
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'x-correlation-id': 'corr-123',
    });
    expect(parse(response.body)).toEqual({ accepted: 'order.placed', correlationId: 'corr-123' });
  });

  it('takes the API Gateway request id as correlation id when no header carries one, and logs it', async () => {
    const event = httpEvent({ body: { type: 't', payload: {} } });
    const seen: (string | undefined)[] = [];
    const handler = createHttpHandler({
      handle: () => {
        seen.push(getCorrelationId());
        logger.warn('inside the handler');
        return { statusCode: 200, body: {} };
      },
    });

    const response = await handler(event, lambdaContext());

    expect(seen).toEqual([event.requestContext.requestId]);
    expect(response.headers?.['x-correlation-id']).toBe(event.requestContext.requestId);
    expect(emitted.warnings().find((w) => w.message === 'inside the handler')).toMatchObject({
      correlation_id: event.requestContext.requestId,
      function_name: 'events-api',
    });
  });

  it('answers 400 with the field errors when the body fails its schema', async () => {
    const response = await echo(httpEvent({ body: { type: '', payload: 'nope' } }), lambdaContext());

    expect(response.statusCode).toBe(400);
    const body = parse(response.body);
    expect(body.message).toBe('the request body is invalid');
    expect(body.errors.map((e: { path: string; rule: string }) => [e.path, e.rule])).toEqual([
      ['type', 'too_small'],
      ['payload', 'invalid_type'],
    ]);
  });

  it('answers 400 naming the body when it is not JSON', async () => {
    const response = await echo(httpEvent({ rawBody: '{"type": ' }), lambdaContext());

    expect(response.statusCode).toBe(400);
    expect(parse(response.body).errors).toEqual([expect.objectContaining({ path: '(body)', rule: 'json' })]);
  });

  it('reads a base64-encoded body, as Function URLs send binary-safe payloads', async () => {
    const event = {
      ...httpEvent({ body: { type: 'x', payload: {} } }),
      isBase64Encoded: true,
      body: Buffer.from(JSON.stringify({ type: 'b64', payload: {} })).toString('base64'),
    };

    const response = await echo(event, lambdaContext());

    expect(parse(response.body).accepted).toBe('b64');
  });

  it('answers 400 for badRequest() thrown by the handler', async () => {
    const handler = createHttpHandler({
      handle: () => {
        throw badRequest('order 7 is already closed', [
          { path: 'orderId', message: 'closed', rule: 'state' },
        ]);
      },
    });

    const response = await handler(httpEvent(), lambdaContext());

    expect(response.statusCode).toBe(400);
    expect(parse(response.body)).toMatchObject({
      message: 'order 7 is already closed',
      errors: [{ path: 'orderId' }],
    });
  });

  it('answers 503 with Retry-After for a retryable failure, without internals', async () => {
    const handler = createHttpHandler({
      handle: () => {
        throw new InfraError('redis at 10.0.0.7:6379 refused the connection', {
          type: 'connection',
          component: 'cache',
        });
      },
    });

    const response = await handler(httpEvent(), lambdaContext('api'));

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('1');
    expect(response.body).not.toContain('10.0.0.7');
    expect(emitted.metrics()).toContainEqual(
      expect.objectContaining({
        name: 'EventErrors',
        dimensions: expect.objectContaining({ errorType: 'connection' }),
      }),
    );
  });

  it('answers 500 with the request id and nothing of the error, and logs the error', async () => {
    const handler = createHttpHandler({
      handle: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'secret')");
      },
    });
    const context = lambdaContext();

    const response = await handler(httpEvent(), context);

    expect(response.statusCode).toBe(500);
    expect(parse(response.body)).toEqual({
      message: 'Internal server error',
      requestId: context.awsRequestId,
    });
    expect(emitted.warnings().find((w) => w.message === 'request failed')).toBeDefined();
  });

  it('answers 204 when the handler returns nothing', async () => {
    const handler = createHttpHandler({ handle: () => undefined });

    const response = await handler(httpEvent({ method: 'DELETE', path: '/events/1' }), lambdaContext());

    expect(response).toMatchObject({ statusCode: 204 });
    expect(response.body).toBeUndefined();
  });
});

describe('createHttpHandler start-up phases', () => {
  const source = (client = local.ssm) =>
    new ConfigSource({ env: 'test', service: 'events', client, environment: {} });

  it('hands the handler its validated config, read from SSM', async () => {
    await local.ssm.send(
      new PutParameterCommand({
        Name: '/config/test/events/http',
        Value: JSON.stringify({ maxPayloadBytes: 1024 }),
        Type: 'String',
        Overwrite: true,
      }),
    );
    const http = defineConfig({
      component: 'http',
      schema: z.object({ maxPayloadBytes: z.number().int().positive(), greeting: z.string() }),
      defaults: { greeting: 'hello' },
      source: source(),
    });
    const handler = createHttpHandler({
      config: { http },
      handle: (_request, { config }) => ({ statusCode: 200, body: config.http }),
    });

    const response = await handler(httpEvent({ method: 'GET' }), lambdaContext());

    expect(parse(response.body)).toEqual({ maxPayloadBytes: 1024, greeting: 'hello' });
  });

  it('answers 503 with Retry-After when config cannot be loaded at a cold start or is invalid, without internals', async () => {
    const unreachable = ssmClient('http://127.0.0.1:9');
    const down = defineConfig({ component: 'http', schema: z.object({}), source: source(unreachable) });
    await local.ssm.send(
      new PutParameterCommand({
        Name: '/config/test/events/bad',
        Value: '{"n": "x"}',
        Type: 'String',
        Overwrite: true,
      }),
    );
    const invalid = defineConfig({ component: 'bad', schema: z.object({ n: z.number() }), source: source() });

    const whenDown = await createHttpHandler({ config: { down }, handle: () => undefined })(
      httpEvent(),
      lambdaContext(),
    );
    const whenInvalid = await createHttpHandler({ config: { invalid }, handle: () => undefined })(
      httpEvent(),
      lambdaContext(),
    );

    expect(whenDown.statusCode).toBe(503);
    expect(whenInvalid.statusCode).toBe(503);
    expect(whenInvalid.headers?.['retry-after']).toBe('1');
    expect(parse(whenInvalid.body)).toEqual({
      message: 'Service temporarily unavailable',
      requestId: expect.any(String),
    });
    unreachable.destroy();
  });

  it('creates a lazy client once across invocations, and again only after a failed creation', async () => {
    let attempts = 0;
    const client = lazy(async () => {
      attempts++;
      if (attempts === 1) throw new InfraError('not yet', { type: 'connection', component: 'db' });
      return { id: attempts };
    });
    const handler = createHttpHandler({
      handle: async () => ({ statusCode: 200, body: await client() }),
    });

    const first = await handler(httpEvent(), lambdaContext());
    const second = await handler(httpEvent(), lambdaContext());
    const third = await handler(httpEvent(), lambdaContext());

    expect(first.statusCode).toBe(503);
    expect(parse(second.body)).toEqual({ id: 2 });
    expect(parse(third.body)).toEqual({ id: 2 });
    expect(attempts).toBe(2);
  });
});
