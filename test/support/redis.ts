import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { freePort, type RedisServer, redisServer, waitForRedis } from './servers.ts';
import { selfSignedCertificate } from './tls.ts';

export { freePort, type RedisServer, redisServer };

/** Deletes every key of the Redis at `url` that matches the SCAN pattern. */
export async function deleteRedisKeys(url: string, pattern: string): Promise<void> {
  const client = createClient({ url });
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    client.destroy();
  }
}

/** A key prefix of the test's own, new for every test, with every key under it removed afterwards. */
export function useRedisNamespace(): { readonly namespace: string; readonly url: string } {
  const url = inject('redisUrl');
  let namespace = '';
  beforeEach(() => {
    namespace = `lambda-infra-test:${process.pid}:${randomUUID().slice(0, 8)}:`;
  });
  afterEach(() => deleteRedisKeys(url, `${namespace}*`));
  return {
    get namespace() {
      return namespace;
    },
    url,
  };
}

/** A redis-server of the test file's own, started before its tests and removed after them. */
export function useRedisServer(): { readonly server: RedisServer } {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await redisServer();
    await server.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });
  return {
    get server() {
      if (!server) throw new Error('the redis-server starts in beforeAll; use it inside hooks and tests');
      return server;
    },
  };
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(taken: number[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.includes(port) || taken.includes(port + 10_000)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

export interface RedisCluster {
  readonly ports: number[];
  readonly url: string;
  dispose(): Promise<void>;
}

/** A Redis cluster of three primaries on loopback, made with `redis-cli --cluster create`. */
export async function redisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'lambda-infra-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  );
  const dispose = async () => {
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null
          ? undefined
          : new Promise((r) => {
              child.once('exit', r);
              child.kill('SIGKILL');
            }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitForRedis(`redis://127.0.0.1:${port}`, `cluster node on ${port}`);
    await new Promise<void>((done, fail) => {
      const create = spawn(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((p) => `127.0.0.1:${p}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { stdio: 'ignore' },
      );
      create.once('exit', (code) =>
        code === 0 ? done() : fail(new Error(`redis-cli --cluster create exited ${code}`)),
      );
    });
    for (const port of ports) {
      for (let i = 0; ; i++) {
        const client = createClient({ url: `redis://127.0.0.1:${port}` });
        await client.connect();
        const info = String(await client.sendCommand(['CLUSTER', 'INFO']));
        client.destroy();
        if (info.includes('cluster_state:ok')) break;
        if (i > 100) throw new Error(`cluster node on ${port} never reached cluster_state:ok`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { ports, url: `redis://127.0.0.1:${ports[0]}`, dispose };
}

export interface RedisTlsServer {
  readonly url: string;
  /** The server's self-signed certificate, which is its own CA. */
  readonly caPem: string;
  dispose(): Promise<void>;
}

/** A redis-server that speaks only TLS, with a self-signed certificate for 127.0.0.1. */
export async function redisTlsServer(): Promise<RedisTlsServer> {
  const { dir, cert, key, caPem } = await selfSignedCertificate('lambda-infra-redis-tls-');
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      cert,
      '--tls-key-file',
      key,
      '--tls-ca-cert-file',
      cert,
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  await waitForRedis(`rediss://127.0.0.1:${port}`, 'the TLS redis-server', caPem);
  return {
    url: `rediss://127.0.0.1:${port}`,
    caPem,
    async dispose() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
