import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FunctionPool, startFunctionPool, startHttpApi } from '@lambda-infra/shared/local/twin';
import { isAlive } from '@lambda-infra/shared/local/twin/services';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// Functions of the twin's containers, each a real process: what Lambda does at a timeout, a crash, an init
// failure and a limit on concurrency, and the HTTP API in front of them over a real socket.
const ROOT = resolve('.lambda-infra', 'test', String(process.pid));
const TASKS = join(ROOT, 'tasks');

const CODE = `
export const handler = async (event, context) => {
  const http = event.version === '2.0';
  const input = http ? JSON.parse(event.body ?? '{}') : event;
  if (input.sleepMs) await new Promise((r) => setTimeout(r, input.sleepMs));
  if (input.crash) process.exit(3);
  if (input.throw) throw new TypeError(input.throw);
  return http
    ? { statusCode: 200, headers: { 'x-pid': String(process.pid) }, body: JSON.stringify(event) }
    : { pid: process.pid, remainingMs: context.getRemainingTimeInMillis(), seen: process.env.SEEN ?? null, leak: process.env.LEAK_ME ?? null, name: context.functionName };
};`;

function functionOf(name: string, code: string, timeoutSeconds = 5) {
  const dir = join(ROOT, 'code', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.mjs'), code);
  return {
    logicalId: name,
    name,
    handler: 'index.handler',
    codeDir: dir,
    layerDirs: [],
    timeoutSeconds,
    memoryMb: 128,
    environment: {},
  };
}

const pools: FunctionPool[] = [];
function pool(name: string, code = CODE, options: { timeoutSeconds?: number; maxContainers?: number } = {}) {
  const p = startFunctionPool({
    fn: functionOf(name, code, options.timeoutSeconds),
    env: { PATH: process.env.PATH ?? '', SEEN: 'yes', AWS_REGION: 'us-east-1' },
    tasksDir: TASKS,
    maxContainers: options.maxContainers ?? 4,
    onLine: () => {},
  });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('function containers of the twin', () => {
  it("stops a container at the function's timeout, as Lambda does, and starts a new one for the next call", async () => {
    const fn = pool('slow', CODE, { timeoutSeconds: 1 });
    const first = await fn.invoke({});
    expect(first).toMatchObject({ ok: true, coldStart: true });
    const pid = (first as { value: { pid: number } }).value.pid;
    const timedOut = await fn.invoke({ sleepMs: 5_000 });
    expect(timedOut).toMatchObject({
      ok: false,
      timedOut: true,
      error: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 1.00 seconds' },
    });
    expect(timedOut.durationMs).toBeLessThan(3_000);
    await expect.poll(() => isAlive(pid)).toBe(false);
    const next = await fn.invoke({});
    expect(next).toMatchObject({ ok: true, coldStart: true });
    expect((next as { value: { pid: number } }).value.pid).not.toBe(pid);
  });

  it('counts the remaining time down from the timeout, and gives the function its environment and nothing else', async () => {
    process.env.LEAK_ME = 'the caller credentials';
    try {
      const result = await pool('env').invoke({});
      expect(result).toMatchObject({ ok: true, value: { seen: 'yes', leak: null, name: 'env' } });
      const remaining = (result as { value: { remainingMs: number } }).value.remainingMs;
      expect(remaining).toBeGreaterThan(3_000);
      expect(remaining).toBeLessThanOrEqual(5_000);
    } finally {
      delete process.env.LEAK_ME;
    }
  });

  it('runs one invocation per container at a time, and no more containers than the limit', async () => {
    const fn = pool('busy', CODE, { maxContainers: 2 });
    const results = await Promise.all([1, 2, 3, 4].map(() => fn.invoke({ sleepMs: 300 })));
    const pids = new Set(results.map((r) => (r as { value: { pid: number } }).value.pid));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(pids.size).toBe(2);
    expect(fn.coldStarts).toBe(2);
  });

  it('reports a thrown error, a crash and an init failure as Lambda names them, and recovers after each', async () => {
    const fn = pool('faults');
    expect(await fn.invoke({ throw: 'bad input' })).toMatchObject({
      ok: false,
      error: { errorType: 'TypeError', errorMessage: 'bad input' },
    });
    expect(await fn.invoke({ crash: true })).toMatchObject({
      ok: false,
      error: { errorType: 'Runtime.ExitError', errorMessage: expect.stringContaining('code 3') },
    });
    expect(await fn.invoke({})).toMatchObject({ ok: true });
    const broken = pool('broken', 'throw new Error("no config at import");');
    expect(await broken.invoke({})).toMatchObject({
      ok: false,
      error: { errorMessage: 'no config at import' },
    });
    const missing = pool('missing', 'export const other = () => 1;');
    expect(await missing.invoke({})).toMatchObject({
      ok: false,
      error: { errorType: 'Runtime.HandlerNotFound' },
    });
  });
});

describe("the twin's HTTP API", () => {
  it("answers 503 at API Gateway's integration timeout while a slower function goes on", async () => {
    const fn = pool('patient', CODE, { timeoutSeconds: 5 });
    const routes = [
      {
        method: 'POST',
        path: '/wait',
        routeKey: 'POST /wait',
        functionId: 'patient',
        authorization: 'NONE',
        payloadFormatVersion: '2.0',
      },
    ];
    const api = await startHttpApi({
      port: 0,
      host: '127.0.0.1',
      routes: () => routes,
      pool: () => fn,
      onRequest: () => {},
      integrationTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      const response = await fetch(`${api.url}/wait`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sleepMs: 2_000 }),
      }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
      expect(response).toEqual({ status: 503, body: '{"message":"Service Unavailable"}' });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await api.close();
    }
  });

  it('routes by the template, answers as API Gateway does, and refuses what API Gateway refuses', async () => {
    const fn = pool('web');
    const routes = [
      {
        method: 'POST',
        path: '/items/{id}',
        routeKey: 'POST /items/{id}',
        functionId: 'web',
        authorization: 'AWS_IAM',
        payloadFormatVersion: '2.0',
      },
    ];
    const lines: unknown[] = [];
    const api = await startHttpApi({
      port: 0,
      host: '127.0.0.1',
      routes: () => routes,
      pool: (id) => (id === 'web' ? fn : undefined),
      onRequest: (l) => lines.push(l),
    });
    try {
      const ok = await fetch(`${api.url}/items/7?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Custom': 'A' },
        body: JSON.stringify({ hello: true }),
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('apigw-requestid')).toMatch(/^[0-9a-f-]{36}$/);
      expect(await ok.json()).toMatchObject({
        version: '2.0',
        routeKey: 'POST /items/{id}',
        pathParameters: { id: '7' },
        queryStringParameters: { x: '1' },
        headers: { 'x-custom': 'A', 'content-type': 'application/json' },
        body: '{"hello":true}',
        // The same request id the gateway answers with, as API Gateway's apigw-requestid.
        requestContext: { requestId: ok.headers.get('apigw-requestid') },
      });
      expect((await fetch(`${api.url}/items`, { method: 'POST' })).status).toBe(404);
      expect(await (await fetch(`${api.url}/items/7`)).json()).toEqual({ message: 'Not Found' });
      const failed = await fetch(`${api.url}/items/7`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ throw: 'database password is hunter2' }),
      });
      expect(failed.status).toBe(500);
      expect(await failed.text()).toBe('{"message":"Internal Server Error"}');
      const big = await fetch(`${api.url}/items/7`, {
        method: 'POST',
        body: Buffer.alloc(11 * 1024 * 1024, 1),
      }).catch((error: Error) => error);
      if (big instanceof Response) expect(big.status).toBe(413);
      else expect(lines).toContainEqual(expect.objectContaining({ status: 413 }));
      expect(lines).toContainEqual(
        expect.objectContaining({ function: 'web', method: 'POST', path: '/items/7', status: 200 }),
      );
    } finally {
      await api.close();
    }
  });
});
