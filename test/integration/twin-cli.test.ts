import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../shared/src/cli/main.ts';

// What `lambda-infra dev`, `event` and `invoke` say about bad input, before they start anything.
async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('lambda-infra dev, event and invoke on bad input', () => {
  it('refuses a cache URL, a database kind, a port or two databases it cannot use, naming the option', async () => {
    expect(await run('dev', '--cache-url', 'memcached://x')).toMatchObject({
      code: 2,
      err: expect.stringContaining(
        '--cache-url must be redis://HOST:PORT, rediss://HOST:PORT or off, got memcached://x',
      ),
    });
    expect(await run('dev', '--database', 'sqlite')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--database must be embedded or pglite, got sqlite'),
    });
    expect(await run('dev', '--port', '70000')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--port must be 0-65535'),
    });
    expect(await run('dev', '--database', 'pglite', '--database-url', 'postgres://x@y/z')).toMatchObject({
      code: 2,
      err: expect.stringContaining('give one'),
    });
  });

  it('says which port is taken before it starts anything', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as { port: number };
    try {
      expect(
        await run('dev', '--port', String(port), '--state-dir', `.lambda-infra/test/cli-${process.pid}`),
      ).toMatchObject({
        code: 1,
        err: expect.stringContaining(`port ${port} on 127.0.0.1 is taken`),
      });
    } finally {
      server.close();
    }
  });

  it('names a --database-url it cannot reach, and leaves nothing running', async () => {
    const stateDir = `.lambda-infra/test/cli-db-${process.pid}`;
    const result = await run(
      'dev',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--cache-url',
      'off',
      '--database-url',
      'postgres://nobody@127.0.0.1:1/events',
    );
    expect(result).toMatchObject({
      code: 1,
      err: expect.stringContaining('--database-url 127.0.0.1:1/events: connect ECONNREFUSED'),
    });
    expect(existsSync(join(stateDir, 'dev', 'twin.json'))).toBe(false);
  }, 120_000);

  it('makes sample events, and refuses a method, a path or a header it cannot put in one', async () => {
    const http = await run(
      'event',
      'http',
      '--method',
      'post',
      '--path',
      '/events?x=1',
      '--body',
      '{"a":1}',
      '--header',
      'X-Key=v=1',
    );
    expect(http.code).toBe(0);
    expect(JSON.parse(http.out)).toMatchObject({
      routeKey: 'POST /events',
      rawQueryString: 'x=1',
      headers: { 'content-type': 'application/json', 'x-key': 'v=1' },
      body: '{"a":1}',
    });
    const sqs = await run(
      'event',
      'sqs',
      '--body',
      'one',
      '--body',
      'two',
      '--attribute',
      'correlationId=c-1',
    );
    expect(JSON.parse(sqs.out).Records.map((r: { body: string }) => r.body)).toEqual(['one', 'two']);
    expect(JSON.parse(sqs.out).Records[0].messageAttributes.correlationId.stringValue).toBe('c-1');
    expect(await run('event', 'http', '--method', 'GET /x')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--method'),
    });
    expect(await run('event', 'http', '--path', 'events')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--path must start with /'),
    });
    expect(await run('event', 'http', '--header', 'novalue')).toMatchObject({
      code: 2,
      err: expect.stringContaining('--header takes NAME=VALUE'),
    });
    expect(await run('event', 'kafka')).toMatchObject({
      code: 2,
      err: expect.stringContaining('event takes http or sqs'),
    });
  });

  it('refuses an event that is not JSON, naming the file', async () => {
    const { writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = join((await import('node:os')).tmpdir(), `lambda-infra-event-${process.pid}.json`);
    writeFileSync(file, '{not json');
    try {
      expect(await run('invoke', 'events-api', '--event', file)).toMatchObject({
        code: 2,
        err: expect.stringContaining(`--event ${file}: not JSON`),
      });
    } finally {
      rmSync(file);
    }
  });
});
