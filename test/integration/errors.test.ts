import { createServer, type Server } from 'node:net';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { classifyError, InfraError } from '@lambda-infra/shared/errors';
import { createClient } from '@redis/client';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { failure, ssmClient, useSsmEndpoint } from '../support/aws.ts';

describe('classifyError on what the AWS SDK throws', () => {
  const local = useSsmEndpoint();

  it.each([
    ['ThrottlingException', 400, 'throttled', true],
    ['TooManyUpdates', 400, 'throttled', true],
    ['ValidationException', 400, 'validation', false],
    ['AccessDeniedException', 400, 'config', false],
    ['InternalServerError', 500, 'internal', true],
    ['ParameterNotFound', 400, 'internal', false],
  ] as const)('%s (HTTP %i) is %s, retryable %s', async (code, status, type, retryable) => {
    local.endpoint.failNext({ code, status, message: `injected ${code}` });

    const error = await failure(local.ssm.send(new GetParameterCommand({ Name: '/x' })));
    const classified = classifyError(error, 'ssm');

    expect(classified).toMatchObject({ type, retryable, code, component: 'ssm' });
    expect(classified.cause).toBe(error);
  });

  it('treats a refused connection as a retryable connection error', async () => {
    const client = ssmClient('http://127.0.0.1:9');

    const classified = classifyError(
      await failure(client.send(new GetParameterCommand({ Name: '/x' }))),
      'ssm',
    );

    expect(classified).toMatchObject({ type: 'connection', retryable: true, code: 'ECONNREFUSED' });
    client.destroy();
  });

  it('treats a server that never answers as a retryable timeout', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const client = new SSMClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
      requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true },
    });

    const classified = classifyError(
      await failure(client.send(new GetParameterCommand({ Name: '/x' }))),
      'ssm',
    );

    expect(classified).toMatchObject({ type: 'timeout', retryable: true });
    client.destroy();
    silent.close();
  });
});

describe('classifyError on what pg throws (real PostgreSQL)', () => {
  const url = inject('postgresUrl');

  async function pgFailure(sql: string, config: pg.ClientConfig = {}) {
    const client = new pg.Client({ connectionString: url, ...config });
    try {
      await client.connect();
      return await failure(client.query(sql));
    } catch (error) {
      return error as Error;
    } finally {
      await client.end().catch(() => {});
    }
  }

  it('a data error is validation, not retryable', async () => {
    const classified = classifyError(await pgFailure('SELECT 1/0'), 'db');

    expect(classified).toMatchObject({ type: 'validation', retryable: false, code: '22012' });
  });

  it('a statement timeout is a retryable timeout', async () => {
    const classified = classifyError(await pgFailure('SELECT pg_sleep(2)', { statement_timeout: 50 }), 'db');

    expect(classified).toMatchObject({ type: 'timeout', retryable: true, code: '57014' });
  });

  it('a database that does not exist is a config error', async () => {
    const target = new URL(url);
    target.pathname = '/lambda_infra_no_such_db';

    const classified = classifyError(
      await pgFailure('SELECT 1', { connectionString: target.toString() }),
      'db',
    );

    expect(classified).toMatchObject({ type: 'config', retryable: false, code: '3D000' });
  });

  it('a backend terminated mid-session is a retryable connection error', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    client.on('error', () => {});
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');

    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    const classified = classifyError(await failure(client.query('SELECT 1')), 'db');

    expect(classified).toMatchObject({ type: 'connection', retryable: true });
    await admin.end();
    await client.end().catch(() => {});
  });
});

describe('classifyError on what node-redis throws (real Redis)', () => {
  const url = inject('redisUrl');
  const key = `lambda-infra-test:errors:${process.pid}:${Date.now()}`;

  it('a WRONGTYPE reply is validation; a closed client is a retryable connection error', async () => {
    const client = createClient({ url });
    await client.connect();
    await client.set(key, 'a string');

    const wrongType = classifyError(await failure(client.lPush(key, 'x')), 'cache');
    await client.del(key);
    client.destroy();
    const closed = classifyError(await failure(client.get(key)), 'cache');

    expect(wrongType).toMatchObject({ type: 'validation', retryable: false, code: 'WRONGTYPE' });
    expect(closed).toMatchObject({ type: 'connection', retryable: true });
  });

  it('a refused connection is a retryable connection error', async () => {
    const client = createClient({ url: 'redis://127.0.0.1:9', socket: { reconnectStrategy: false } });
    client.on('error', () => {});

    const classified = classifyError(await failure(client.connect()), 'cache');

    expect(classified).toMatchObject({ type: 'connection', retryable: true, code: 'ECONNREFUSED' });
  });
});

describe('classifyError on the rest', () => {
  it('turns a zod error into validation with one field error per issue', () => {
    const result = z.object({ port: z.number().max(10), host: z.string() }).safeParse({ port: 11 });

    const classified = classifyError(result.error, 'handler');

    expect(classified.type).toBe('validation');
    expect(classified.fields.map((f) => [f.path, f.rule])).toEqual([
      ['port', 'too_big'],
      ['host', 'invalid_type'],
    ]);
  });

  it('passes an InfraError through and calls anything unknown internal, not retryable', () => {
    const infra = new InfraError('already typed', { type: 'throttled', component: 'mq' });

    expect(classifyError(infra, 'other')).toBe(infra);
    expect(classifyError(new Error('what?'), 'x')).toMatchObject({ type: 'internal', retryable: false });
    expect(classifyError('a string', 'x').message).toBe('a string');
  });
});
