// Bad config reported, not a blanket 500; hung dependencies answered in time; hostile correlation ids refused.
import { createServer, type Server } from 'node:net';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { ConfigSource, configFreshnessCheck, defineConfig } from '@lambda-infra/shared/config';
import type { InfraError } from '@lambda-infra/shared/errors';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { createHealth } from '@lambda-infra/shared/health';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { failure, ssmClient, useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';

const local = useSsmEndpoint();
let emitted: Emitted;
let now = 1_000_000;

beforeEach(() => {
  now = 1_000_000;
  emitted = captureConsole();
});
afterEach(() => emitted.restore());

const PATH = '/config/test/events-api';
const put = (component: string, value: string) =>
  local.ssm.send(
    new PutParameterCommand({ Name: `${PATH}/${component}`, Value: value, Type: 'String', Overwrite: true }),
  );
const source = () =>
  new ConfigSource({
    env: 'test',
    service: 'events-api',
    client: local.ssm,
    now: () => now,
    environment: {},
  });
const parse = (body: string | undefined) => JSON.parse(body ?? 'null');
const apiSchema = z.object({ maxPayloadBytes: z.number().int().positive().max(1_048_576) });

function apiHandler(shared: ConfigSource) {
  const api = defineConfig({ component: 'api', schema: apiSchema, source: shared });
  return createHttpHandler({
    config: { api },
    health: createHealth([configFreshnessCheck({ sources: () => [shared] })]),
    handle: (_request, { config }) => ({ statusCode: 200, body: config.api }),
  });
}

describe('bad config is reported, not a blanket 500', () => {
  it.each([
    ['a value that fails its schema', '{"maxPayloadBytes":"big"}', 'maxPayloadBytes', 'invalid_type'],
    ['a value that is not JSON', '{maxPayloadBytes: 1', '(root)', 'json'],
  ])(
    'with %s at cold start: /health 503 naming component, field and source; other routes 503 plain',
    async (_, value, field, rule) => {
      await put('api', value);
      const handler = apiHandler(source());

      const health = await handler(httpEvent({ method: 'GET', path: '/health' }), lambdaContext());
      const other = await handler(httpEvent({ method: 'GET', path: '/events' }), lambdaContext());

      expect(health.statusCode).toBe(503);
      const report = parse(health.body);
      expect(report.status).toBe('unhealthy');
      const message = report.components.find((c: { name: string }) => c.name === 'config').message;
      expect(message).toContain('component "api"');
      expect(message).toContain(`${field}:`);
      expect(message).toContain(`[rule: ${rule}]`);
      expect(message).toContain(`from SSM parameter ${PATH}/api`);
      expect(other.statusCode).toBe(503);
      expect(other.headers?.['retry-after']).toBe('1');
      expect(parse(other.body).message).toBe('Service temporarily unavailable');
      expect(other.body).not.toContain(PATH);
    },
  );

  it('notices a tuning component that is not JSON: logged, counted, health degraded, tuning kept', async () => {
    await put('api', '{"maxPayloadBytes":10}');
    await put('config', '{"ttlSeconds": 5');
    const shared = source();
    const handler = apiHandler(shared);

    const response = await handler(httpEvent({ method: 'GET', path: '/health' }), lambdaContext());

    expect(parse(response.body).status).toBe('degraded');
    expect(parse(response.body).components[0].message).toContain(`${PATH}/config is not valid JSON`);
    expect(shared.ttlSeconds).toBe(60);
    expect(
      emitted.warnings().some((w) => w.message === 'invalid config tuning; keeping the tuning in force'),
    ).toBe(true);
    expect(emitted.metrics()).toContainEqual(
      expect.objectContaining({
        name: 'ConfigRefreshFailed',
        dimensions: expect.objectContaining({ component: 'config' }),
      }),
    );
  });

  it('notices a parameter deleted after the cold start and keeps the last good value', async () => {
    await put('api', '{"maxPayloadBytes":10}');
    await put('config', '{"ttlSeconds":5,"retryAfterSeconds":1}');
    const shared = source();
    const handler = apiHandler(shared);
    await handler(httpEvent({ method: 'GET', path: '/x' }), lambdaContext());

    await local.ssm.send(new DeleteParameterCommand({ Name: `${PATH}/api` }));
    await local.ssm.send(new DeleteParameterCommand({ Name: `${PATH}/config` }));
    now += 6_000;
    const served = await handler(httpEvent({ method: 'GET', path: '/x' }), lambdaContext());
    const health = await handler(httpEvent({ method: 'GET', path: '/health' }), lambdaContext());

    expect(parse(served.body)).toEqual({ maxPayloadBytes: 10 });
    expect(shared.ttlSeconds).toBe(5);
    const report = parse(health.body);
    expect(health.statusCode).toBe(200);
    expect(report.status).toBe('degraded');
    expect(report.components[0].message).toContain('the parameter was deleted');
    expect(report.components[0].message).toContain(`${PATH}/config was deleted`);
    expect(emitted.metrics().filter((m) => m.name === 'ConfigRefreshFailed').length).toBeGreaterThanOrEqual(
      2,
    );
  });

  it('names SSM as the source of a bad value inside a nested array', async () => {
    await put('routes', '{"routes":[{"hosts":["a",5]}],"matrix":[[1,"x"]]}');
    const routes = defineConfig({
      component: 'routes',
      schema: z.object({
        routes: z.array(z.object({ hosts: z.array(z.string()) })),
        matrix: z.array(z.array(z.number())),
      }),
      defaults: { routes: [], matrix: [] },
      source: source(),
    });

    const error = (await failure(routes.get())) as unknown as InfraError;

    expect(
      error.fields.map((f) => [f.path, f.message.endsWith(`(from SSM parameter ${PATH}/routes)`)]),
    ).toEqual([
      ['routes.0.hosts.1', true],
      ['matrix.0.1', true],
    ]);
  });
});

describe('a hung dependency ends as a retryable answer', () => {
  let hung: Server;
  afterEach(() => new Promise<void>((resolve) => hung.close(() => resolve())));

  it('answers 503 with Retry-After before the function times out when SSM does not answer', async () => {
    const sockets: import('node:net').Socket[] = [];
    hung = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const { port } = hung.address() as { port: number };
    const client = ssmClient(`http://127.0.0.1:${port}`);
    const api = defineConfig({
      component: 'api',
      schema: apiSchema,
      source: new ConfigSource({ env: 'test', service: 'hung', client }),
    });
    const handler = createHttpHandler({ config: { api }, handle: () => ({ statusCode: 200 }) });
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 2_000 };

    const started = Date.now();
    const response = await handler(httpEvent({ method: 'GET', path: '/events' }), context);

    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('1');
    for (const socket of sockets) socket.destroy();
    client.destroy();
  });

  it('still answers /health with a report naming config when SSM does not answer', async () => {
    const sockets: import('node:net').Socket[] = [];
    hung = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const { port } = hung.address() as { port: number };
    const client = ssmClient(`http://127.0.0.1:${port}`);
    const shared = new ConfigSource({ env: 'test', service: 'hung-health', client });
    const api = defineConfig({ component: 'api', schema: apiSchema, source: shared });
    const handler = createHttpHandler({
      config: { api },
      health: createHealth([configFreshnessCheck({ sources: () => [shared] })]),
      handle: () => ({ statusCode: 200 }),
    });
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 5_000 };

    const response = await handler(httpEvent({ method: 'GET', path: '/health' }), context);

    expect(response.statusCode).toBe(503);
    const report = parse(response.body);
    expect(report.status).toBe('unhealthy');
    expect(report.components).toEqual([expect.objectContaining({ name: 'config', status: 'unhealthy' })]);
    for (const socket of sockets) socket.destroy();
    client.destroy();
  });
});

describe('incoming correlation ids', () => {
  const handler = createHttpHandler({
    handle: (request) => ({ statusCode: 200, body: { id: request.correlationId } }),
  });

  it.each([
    ['a CR/LF', 'abc\r\nset-cookie: x=1'],
    ['a 100 KB value', 'a'.repeat(100_000)],
    ['129 characters', 'b'.repeat(129)],
    ['a NUL', 'a\u0000b'],
    ['a space', 'a b'],
  ])('replaces one with %s by a new id, never echoing it', async (_, hostile) => {
    const event = httpEvent({ method: 'GET', path: '/x', headers: { 'x-correlation-id': hostile } });

    const response = await handler(event, lambdaContext());

    const echoed = response.headers?.['x-correlation-id'];
    expect(echoed).not.toBe(hostile);
    expect(echoed).toBe(event.requestContext.requestId);
    expect(parse(response.body).id).toBe(echoed);
  });

  it('keeps a short id of safe characters', async () => {
    const id = 'Root=1-5f84c7a1-abc:order/42_x.y';
    const response = await handler(
      httpEvent({ method: 'GET', path: '/x', headers: { 'x-correlation-id': id } }),
      lambdaContext(),
    );

    expect(response.headers?.['x-correlation-id']).toBe(id);
  });
});
