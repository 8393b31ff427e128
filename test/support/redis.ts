import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { afterEach, beforeEach, inject } from 'vitest';

/** A key prefix of the test's own, new for every test, with every key under it removed afterwards. */
export function useRedisNamespace(): { readonly namespace: string; readonly url: string } {
  const url = inject('redisUrl');
  let namespace = '';
  beforeEach(() => {
    namespace = `lambda-infra-test:${process.pid}:${randomUUID().slice(0, 8)}:`;
  });
  afterEach(async () => {
    const client = createClient({ url });
    await client.connect();
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${namespace}*`, COUNT: 500 }))
      keys.push(...batch);
    if (keys.length > 0) await client.del(keys);
    client.destroy();
  });
  return {
    get namespace() {
      return namespace;
    },
    url,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  /** Kills it, as a crash or an outage would; start() brings it back on the same port. */
  stop(): Promise<void>;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

/** A redis-server of the test's own on a free loopback port, keeping nothing on disk. */
export async function redisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'lambda-infra-redis-'));
  let child: ChildProcess | undefined;
  const ping = async () => {
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return true;
    } catch {
      return false;
    } finally {
      client.destroy();
    }
  };
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        {
          stdio: 'ignore',
        },
      );
      for (let i = 0; i < 100; i++) {
        if (await ping()) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-server on port ${port} did not start`);
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    async dispose() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}
