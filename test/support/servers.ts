// Servers a test or a fault run starts for itself, on free loopback ports, and stops by pid. No vitest here:
// the fault run (test/fault) uses them outside the test runner.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';

// Every server process started here, so that none outlives the process that started it, however that ends.
const started = new Set<() => number[]>();
process.once('exit', () => {
  for (const pids of started) {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

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

/** Whether a Redis at `url` answers a PING now. */
async function answers(url: string, ca?: string): Promise<boolean> {
  const client = createClient({
    url,
    socket: { reconnectStrategy: false, ...(ca ? { tls: true, ca } : {}) },
  });
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
}

/** Waits up to about 5 s for a Redis at `url` to answer, or fails naming what did not start. */
export async function waitForRedis(url: string, what: string, ca?: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await answers(url, ca)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  /** Kills it, as a crash or an outage would; start() brings it back on the same port. */
  stop(): Promise<void>;
  /** Freezes it (SIGSTOP), as a hung node looks from a client: connections stay open and nothing answers. */
  pause(): void;
  resume(): void;
  readonly pid: number | undefined;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

/** A redis-server of the test's own on a free loopback port, keeping nothing on disk. */
export async function redisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'lambda-infra-redis-'));
  let child: ChildProcess | undefined;
  started.add(() => (child?.pid && child.exitCode === null ? [child.pid] : []));
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
      await waitForRedis(server.url, `redis-server on port ${port}`);
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    pause() {
      if (child?.pid) process.kill(child.pid, 'SIGSTOP');
    },
    resume() {
      if (child?.pid) process.kill(child.pid, 'SIGCONT');
    },
    get pid() {
      return child?.pid;
    },
    async dispose() {
      server.resume();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Where Debian (and most distributions) put the PostgreSQL server binaries; the newest version first. */
function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const path = join(root, version, 'bin', name);
      if (existsSync(path)) return path;
    }
  }
  return name;
}

/** The uid and gid PostgreSQL runs as: it refuses to run as root, so root runs it as `postgres`. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no postgres user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends a signal to each process, skipping one that has gone meanwhile (a backend that just ended). */
function signal(pids: number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // gone
    }
  }
}

/** The pids of a process's children, from /proc. */
function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

export interface PostgresServer {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:PORT/postgres, trust authentication. */
  readonly url: string;
  start(): Promise<void>;
  /** SIGKILLs the postmaster and every backend, as a crash of the host would; start() recovers the data. */
  kill(): Promise<void>;
  /** Freezes the postmaster and every backend (SIGSTOP): connections stay open and nothing answers. */
  pause(): void;
  resume(): void;
  dispose(): Promise<void>;
}

/**
 * A PostgreSQL server of the caller's own: a new cluster (initdb) in a temporary folder, on a free loopback
 * port. fsync off (a killed process loses nothing the kernel holds); commits stay synchronous, so a kill never
 * loses a transaction it acknowledged. Needs the server binaries (Debian's postgresql package).
 */
export async function postgresServer(options: { maxConnections?: number } = {}): Promise<PostgresServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'lambda-infra-pg-'));
  const user = postgresUser();
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  const data = join(dir, 'data');
  const init = spawnSync(
    postgresBin('initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    { ...(user ?? {}), encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
  let child: ChildProcess | undefined;
  const pids = () => (child?.pid && child.exitCode === null ? [child.pid, ...childPids(child.pid)] : []);
  started.add(pids);
  const server: PostgresServer = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      child = spawn(
        postgresBin('postgres'),
        [
          '-D',
          data,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${dir}`,
          '-c',
          'fsync=off',
          '-c',
          'full_page_writes=off',
          '-c',
          `max_connections=${options.maxConnections ?? 200}`,
        ],
        { ...(user ?? {}), stdio: 'ignore' },
      );
      for (let i = 0; i < 200; i++) {
        if (await portAnswers(port)) return;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`postgres on port ${port} did not start`);
    },
    async kill() {
      if (!child || child.exitCode !== null) return;
      const all = pids();
      const exited = new Promise((r) => child!.once('exit', r));
      for (const pid of all) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
      // The backends are the postmaster's children: wait until none is left holding the shared memory.
      for (let i = 0; i < 100 && all.some((pid) => existsSync(`/proc/${pid}`)); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      child = undefined;
    },
    pause() {
      signal(pids(), 'SIGSTOP');
    },
    resume() {
      signal(pids(), 'SIGCONT');
    },
    async dispose() {
      server.resume();
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}
