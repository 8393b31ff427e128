// events-api at its edge: every bad request answered with a clear 4xx that names the field and the rule, no
// internals, and nothing sent to the queue; SQS down or slow answered 503 with Retry-After.

import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { CreateQueueCommand, DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { httpEvent, lambdaContext } from '../../../test/support/events.ts';
import { fauxqsClient, queueDepth, receiveNow } from '../../../test/support/sqs.ts';

// A namespace of this test's own in the shared SSM endpoint.
const ENV = `test-${process.pid}`;
const names = [`/config/${ENV}/events-api/api`, `/config/${ENV}/events-api/config`];
const MAX = 1_024;
let ssm: SSMClient;
const sqs = fauxqsClient();
const made: string[] = [];

type Handler = typeof import('../src/handler.ts')['handler'];

/** A fresh container of the API (its own module state) bound to `queueUrl`. */
async function container(queueUrl: string, endpoint = inject('sqsEndpointUrl')): Promise<Handler> {
  vi.resetModules();
  process.env.AWS_ENDPOINT_URL_SQS = endpoint;
  process.env.LAMBDA_INFRA_QUEUE_URL = queueUrl;
  return (await import('../src/handler.ts')).handler;
}

async function queue(fifo = false): Promise<string> {
  const name = `lambda-infra-test-${randomUUID().slice(0, 8)}${fifo ? '.fifo' : ''}`;
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: fifo ? { FifoQueue: 'true' } : {} }),
  );
  made.push(QueueUrl!);
  return QueueUrl!;
}

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL_SSM = inject('ssmEndpointUrl');
  process.env.LAMBDA_INFRA_ENV = ENV;
  process.env.LAMBDA_INFRA_SERVICE = 'events-api';
  ssm = new SSMClient({});
  await ssm.send(
    new PutParameterCommand({
      Name: names[0],
      Value: JSON.stringify({ maxPayloadBytes: MAX }),
      Type: 'String',
    }),
  );
  await ssm.send(new PutParameterCommand({ Name: names[1], Value: '{"ttlSeconds":30}', Type: 'String' }));
});

afterAll(async () => {
  await ssm.send(new DeleteParametersCommand({ Names: names }));
  ssm.destroy();
  await Promise.all(made.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
});

const parse = (body: string | undefined) => JSON.parse(body ?? '{}');
const valid = { type: 'order.placed', source: 'shop', payload: { total: 12 } };

/** A request that must be refused: the status, and the rule of its first error. */
const refused: [string, Parameters<typeof httpEvent>[0], number, string | undefined][] = [
  ['a body that is not JSON', { rawBody: '{"type": "order.placed",' }, 400, 'json'],
  ['no body at all', {}, 400, 'required'],
  ['a field missing', { body: { source: 'shop', payload: {} } }, 400, 'invalid_type'],
  ['a payload that is not an object', { body: { ...valid, payload: 'x' } }, 400, 'invalid_type'],
  ['a field the event does not have', { body: { ...valid, extra: 1 } }, 400, 'unrecognized_keys'],
  ['an id that is not a UUID', { body: { ...valid, id: '1; drop table events' } }, 400, 'invalid_format'],
  ['a type with spaces and CR/LF', { body: { ...valid, type: 'order\r\nplaced' } }, 400, 'invalid_format'],
  [
    'a body over api.maxPayloadBytes',
    { body: { ...valid, payload: { note: 'x'.repeat(MAX) } } },
    413,
    'max_size',
  ],
  ['a 1 MB string', { body: { ...valid, payload: { note: 'x'.repeat(1_048_576) } } }, 413, 'max_size'],
  [
    'a NUL in a payload string',
    { rawBody: '{"type":"a","source":"b","payload":{"note":"a\\u0000b"}}' },
    400,
    'text',
  ],
  ['a NUL in a payload key', { rawBody: '{"type":"a","source":"b","payload":{"a\\u0000":1}}' }, 400, 'text'],
  ['a lone surrogate', { rawBody: '{"type":"a","source":"b","payload":{"note":"\\ud800"}}' }, 400, 'text'],
  [
    'nesting deeper than 64',
    { rawBody: `{"type":"a","source":"b","payload":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}` },
    400,
    'depth',
  ],
  [
    'no content type',
    { body: valid, headers: { 'content-type': undefined as unknown as string } },
    415,
    'media_type',
  ],
  ['a text/plain body', { body: valid, headers: { 'content-type': 'text/plain' } }, 415, 'media_type'],
  [
    'a form body',
    { body: valid, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    415,
    'media_type',
  ],
  [
    'JSON in Latin-1',
    { body: valid, headers: { 'content-type': 'application/json; charset=latin1' } },
    415,
    'media_type',
  ],
  [
    'an Idempotency-Key with CR/LF',
    { body: valid, headers: { 'idempotency-key': 'a\r\nSet-Cookie: x=1' } },
    400,
    'format',
  ],
  [
    'an Idempotency-Key of 256 characters',
    { body: valid, headers: { 'idempotency-key': 'k'.repeat(256) } },
    400,
    'format',
  ],
];

describe.each([
  ['a standard queue', false],
  ['a FIFO queue', true],
])('events-api on %s', (_, fifo) => {
  let url: string;
  let handler: Handler;
  beforeAll(async () => {
    url = await queue(fifo);
    handler = await container(url);
  });

  it.each(refused)('refuses %s with a clear %i, and sends nothing', async (_what, request, status, rule) => {
    const event = httpEvent(request);
    if (request?.headers?.['content-type'] === undefined && 'content-type' in (request?.headers ?? {})) {
      delete event.headers['content-type'];
    }

    const response = await handler(event, lambdaContext());

    expect(response.statusCode).toBe(status);
    const body = parse(response.body);
    expect(body.message).toEqual(expect.any(String));
    if (rule) expect(body.errors[0].rule).toBe(rule);
    // No internals: no stack, no file paths.
    expect(response.body).not.toMatch(/at .+\.ts:\d+|node_modules|\/src\//);
    expect(await queueDepth(sqs, url)).toBe(0);
  });

  it('sends a valid event with its correlation id and answers 202 with its id', async () => {
    const response = await handler(
      httpEvent({
        body: valid,
        headers: { 'content-type': 'application/json; charset=UTF-8', 'x-correlation-id': 'edge-1' },
      }),
      lambdaContext(),
    );

    expect(response.statusCode).toBe(202);
    const { id } = parse(response.body);
    const [message] = await receiveNow(sqs, url);
    expect(JSON.parse(message!.Body!)).toEqual({ ...valid, id });
    expect(message!.MessageAttributes?.correlationId?.StringValue).toBe('edge-1');
    if (fifo) expect(message!.Attributes?.MessageGroupId).toBe('shop');
  });
});

describe('events-api on any event', () => {
  let handler: Handler;
  beforeAll(async () => {
    handler = await container(await queue());
  });

  it('refuses a body that is not UTF-8 with 400, naming the rule', async () => {
    const event = httpEvent({});
    event.body = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64');
    event.isBase64Encoded = true;

    const response = await handler(event, lambdaContext());

    expect(response.statusCode).toBe(400);
    expect(parse(response.body).errors[0]).toMatchObject({ path: '(body)', rule: 'utf8' });
  });

  it('keeps a correlation id with CR/LF out of its response headers', async () => {
    const response = await handler(
      httpEvent({ method: 'GET', path: '/nope', headers: { 'x-correlation-id': 'a\r\nSet-Cookie: x=1' } }),
      lambdaContext(),
    );

    expect(response.headers?.['x-correlation-id']).toMatch(/^[A-Za-z0-9._~:@+=/-]+$/);
  });

  it.each([
    ['an empty object', {}],
    ['null', null],
    ['an SQS batch', { Records: [{ messageId: '1', body: '{}', eventSource: 'aws:sqs' }] }],
    ['a REST API (payload 1.0) event', { version: '1.0', httpMethod: 'POST', path: '/events', body: '{}' }],
  ])('refuses %s with 400: it is not an HTTP API event', async (_what, event) => {
    const response = await handler(event as never, lambdaContext());

    expect(response.statusCode).toBe(400);
    expect(parse(response.body).message).toMatch(
      /payload (format 1\.0|2\.0)|not an API Gateway|the event is null/,
    );
  });

  it('answers 404 for an unknown path and 405 with Allow for a known path under another method', async () => {
    const unknown = await handler(httpEvent({ method: 'GET', path: '/nope' }), lambdaContext());
    const wrongMethod = await handler(httpEvent({ method: 'DELETE', path: '/events' }), lambdaContext());

    expect(unknown.statusCode).toBe(404);
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers?.allow).toBe('POST');
  });

  it('refuses a batch over 100 events, and answers each entry of a mixed one', async () => {
    const tooMany = await handler(
      httpEvent({ path: '/events/batch', body: { events: Array.from({ length: 101 }, () => ({})) } }),
      lambdaContext(),
    );

    expect(tooMany.statusCode).toBe(400);
    expect(parse(tooMany.body).errors[0]).toMatchObject({ path: 'events', rule: 'too_big' });
  });

  it('answers a bad id or query with 400 before it reaches the database', async () => {
    const badId = await handler(httpEvent({ method: 'GET', path: "/events/1' or '1'='1" }), lambdaContext());
    const stats = httpEvent({ method: 'GET', path: '/events/stats' });
    stats.queryStringParameters = { from: 'yesterday', extra: '1' };
    const badQuery = await handler(stats, lambdaContext());

    expect(badId.statusCode).toBe(400);
    expect(parse(badId.body).errors[0]).toMatchObject({ path: 'id', rule: 'uuid' });
    expect(badQuery.statusCode).toBe(400);
    expect(
      parse(badQuery.body)
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['extra', 'from']);
  });

  it('reports its config in /health', async () => {
    const response = await handler(httpEvent({ method: 'GET', path: '/health' }), lambdaContext());

    const report = parse(response.body);
    expect(report.components).toContainEqual(
      expect.objectContaining({
        name: 'config',
        status: 'healthy',
        message: expect.stringContaining(`/config/${ENV}/events-api`),
      }),
    );
  });

  it('every env of infra/config holds an api config its schema accepts', async () => {
    const { apiConfigSchema } = await import('../src/handler.ts');
    // The environments are the folder's directories (beside them, components.ts names each service's components).
    const envs = (await readdir('infra/config', { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);

    for (const env of envs) {
      const entries = await readConfigFolder('infra/config', { env, service: 'events-api' });
      const api = entries.find((e) => e.component === 'api');
      expect(api, `infra/config/${env}/events-api/api.json`).toBeDefined();
      expect(apiConfigSchema.safeParse(api?.value).success).toBe(true);
    }
    expect(envs.sort()).toEqual(['dev', 'prod']);
  });
});

describe('events-api when SQS fails', () => {
  it('answers 503 with Retry-After when SQS is gone, and once the circuit opens, until its next probe', async () => {
    const emulator = await startSqsEmulator();
    const client = new SQSClient({ endpoint: emulator.url, region: 'us-east-1' });
    const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'gone' }));
    client.destroy();
    const handler = await container(QueueUrl!, emulator.url);
    const before = await handler(httpEvent({ body: valid }), lambdaContext());
    await emulator.stop();

    const responses = [];
    for (let i = 0; i < 7; i++) responses.push(await handler(httpEvent({ body: valid }), lambdaContext()));

    expect(before.statusCode).toBe(202);
    for (const r of responses) {
      expect(r.statusCode).toBe(503);
      expect(Number(r.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(r.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    }
    // The publisher's circuit opens for 5 s after 5 failures: the client is told to come back then.
    expect(Number(responses.at(-1)!.headers?.['retry-after'])).toBeGreaterThanOrEqual(4);
  }, 30_000);

  it('answers 503 before its timeout when SQS accepts connections and never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const handler = await container(
      `http://127.0.0.1:${port}/000000000000/silent`,
      `http://127.0.0.1:${port}`,
    );
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 2_000 };
    const started = Date.now();

    const response = await handler(httpEvent({ body: valid }), context);

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBeDefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const s of sockets) s.destroy();
    silent.close();
  });
});
