import {
  type AccessMode,
  type IsolationLevel,
  Kysely,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  sql,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { type Breaker, consecutive, createBreaker } from '../breaker/index.ts';
import {
  backoffDelay,
  checkOptions,
  classifyError,
  InfraError,
  invalidOption,
  sleep,
  withDefaults,
} from '../errors/index.ts';
import { recordMetric, registerMetricsSource } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { dbConfigDefaults, dbConfigSchema } from './environment.ts';
import { type AuthTokenSigner, iamPassword } from './iamAuth.ts';
import { type SecretReader, secretPassword } from './secretAuth.ts';

export type DbAuth =
  | { type: 'none' }
  | { type: 'password'; password: string }
  /** The password of a Secrets Manager secret in RDS's JSON form, read for each new connection. */
  | { type: 'secret'; secretId: string; reader?: SecretReader }
  | {
      type: 'iam';
      region: string;
      /** Default: `@aws-sdk/rds-signer` with the function's role. */
      signer?: AuthTokenSigner;
      /** How long one token serves new connections; default 10 minutes (tokens live 15). */
      tokenMaxAgeMs?: number;
      /** Clock of the token's age, in milliseconds; injected by tests. */
      now?: () => number;
    };

export interface DbOptions {
  host: string;
  /** Default 5432. */
  port?: number;
  database: string;
  user: string;
  /** Default none (trust); `iam` for RDS Proxy, which then needs `tls`. */
  auth?: DbAuth;
  /**
   * TLS with the server's certificate verified. RDS Proxy's certificate chains to Amazon's public root, which
   * Node trusts; give `caPem` for a private CA (Aurora without the proxy: the RDS CA bundle). Default off.
   */
  tls?: boolean | { caPem?: string };
  /**
   * Connections per container. A Lambda container runs one invocation at a time, so a few cover a handler's
   * parallel queries while the proxy multiplexes; default 2.
   */
  poolMax?: number;
  /** An idle connection is closed after this; default 60 s. */
  idleTimeoutMs?: number;
  /** How long getting a connection may take, pool wait included; default 3 s. */
  connectTimeoutMs?: number;
  /** The server cancels a statement running longer (57014); default 10 s, 0 for none. */
  statementTimeoutMs?: number;
  /** A query slower than this is logged at warn, with its SQL and not its parameters; default 500 ms. */
  slowQueryMs?: number;
  /** How often `transaction()` retries a serialization failure or deadlock by default; default 3. */
  transactionRetries?: number;
  /**
   * The circuit in front of the database: connection failures and timeouts count, not constraint violations
   * or serialization conflicts. Default: 5 failures in a row open it for 2 s, growing to 30 s. `false` for none.
   */
  breaker?: Breaker | false;
  /** Shown in pg_stat_activity; default the service name. */
  applicationName?: string;
  /** Randomness of the retry backoff; injected by tests. */
  random?: () => number;
}

export interface TransactionOptions {
  isolation?: IsolationLevel;
  accessMode?: AccessMode;
  /** Retries after a serialization failure (40001) or deadlock (40P01); default the db's `transactionRetries`. */
  retries?: number;
}

export interface DbStats {
  /** Connections open, idle among them, and callers waiting for one. */
  total: number;
  idle: number;
  waiting: number;
  max: number;
  queries: number;
  errors: number;
  slowQueries: number;
  /** Transactions run again after a serialization failure or deadlock. */
  retries: number;
}

const RETRYABLE_IN_TRANSACTION = new Set(['40001', '40P01']);
const MAX_DURATION_SAMPLES = 100;

const ignore = () => {};

/** Outages count against the circuit; a query's own faults (constraints, conflicts, syntax) do not. */
const isOutage = (error: unknown): boolean => {
  const infra = classifyError(error, 'db');
  return infra.type === 'connection' || infra.type === 'timeout' || infra.type === 'throttled';
};

function tlsOption(tls: DbOptions['tls']): pg.PoolConfig['ssl'] {
  if (!tls) return false;
  return {
    rejectUnauthorized: true,
    ...(typeof tls === 'object' && tls.caPem ? { ca: tls.caPem } : {}),
  };
}

/** What `createDb` holds its options to: the `db` component's rules, the required ones, TLS for secrets. */
function checkDbOptions(options: DbOptions & typeof dbConfigDefaults): void {
  checkOptions('db', dbConfigSchema, options);
  for (const field of ['host', 'database', 'user'] as const) {
    if (!options[field]) throw invalidOption('db', field, 'is required');
  }
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 1 && options.port <= 65_535)
  ) {
    throw invalidOption('db', 'port', `must be a whole number from 1 to 65535, got ${String(options.port)}`);
  }
  if ((options.auth?.type === 'iam' || options.auth?.type === 'secret') && !options.tls) {
    throw invalidOption(
      'db',
      'tls',
      `must be set: ${options.auth.type} authentication sends its secret as the password: it needs tls`,
    );
  }
}

/**
 * PostgreSQL for a Lambda function: typed queries with Kysely over a small `pg` pool that lives as long as the
 * container, IAM tokens for RDS Proxy, transactions that retry conflicts, errors as `InfraError`s, a circuit in
 * front, and query timings as metrics. Connects on first use.
 */
export class Db<Schema> {
  readonly kysely: Kysely<Schema>;
  readonly breaker: Breaker | undefined;
  readonly #pool: pg.Pool;
  readonly #max: number;
  readonly #slowQueryMs: number;
  readonly #transactionRetries: number;
  readonly #random: () => number;
  /** Connections handed out before: only those can have gone stale while idle. */
  readonly #seen = new WeakSet<pg.PoolClient>();
  /**
   * One wrapper per pg connection, kept for its life: Kysely remembers every connection object it is given,
   * so a new wrapper per checkout would grow its set without end.
   */
  readonly #wrappers = new WeakMap<pg.PoolClient, PooledClient>();
  readonly #hooks: PoolHooks;
  readonly #stats = { queries: 0, errors: 0, slowQueries: 0, retries: 0 };
  #durations: number[] = [];
  #recordedErrors = 0;
  #closing: Promise<void> | undefined;
  readonly #unregisterMetrics: () => void;

  constructor(given: DbOptions) {
    const options = withDefaults(dbConfigDefaults, given);
    checkDbOptions(options);
    this.#max = options.poolMax;
    this.#slowQueryMs = options.slowQueryMs;
    this.#transactionRetries = options.transactionRetries;
    this.#random = options.random ?? Math.random;
    const port = options.port ?? 5432;
    const auth = options.auth ?? { type: 'none' };
    const { statementTimeoutMs } = options;
    const applicationName =
      options.applicationName ?? process.env.LAMBDA_INFRA_SERVICE ?? process.env.POWERTOOLS_SERVICE_NAME;

    this.#pool = new pg.Pool({
      host: options.host,
      port,
      database: options.database,
      user: options.user,
      ...(auth.type === 'password' ? { password: auth.password } : {}),
      ...(auth.type === 'secret' ? { password: secretPassword(auth.secretId, auth.reader) } : {}),
      ...(auth.type === 'iam'
        ? {
            password: iamPassword({
              hostname: options.host,
              port,
              username: options.user,
              region: auth.region,
              ...(auth.signer ? { signer: auth.signer } : {}),
              ...(auth.tokenMaxAgeMs ? { maxAgeMs: auth.tokenMaxAgeMs } : {}),
              ...(auth.now ? { now: auth.now } : {}),
            }),
          }
        : {}),
      ssl: tlsOption(options.tls),
      max: this.#max,
      idleTimeoutMillis: options.idleTimeoutMs,
      connectionTimeoutMillis: options.connectTimeoutMs,
      ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
      ...(applicationName ? { application_name: applicationName } : {}),
      keepAlive: true,
    });
    // An idle connection that the server or the proxy closes reports here; unheard, it would end the process.
    this.#pool.on('error', (error) => {
      // pg's end() lets go of connections before their sockets close; news of them after close() is not news.
      if (this.#closing) return;
      logger.warn('an idle database connection was lost; the next query opens a new one', {
        error: classifyError(error, 'db').toJSON(),
      });
    });

    // pg leaves a checked-out connection with no 'error' listener, so a reset socket would end the process.
    // The statement in flight fails with the same error, and the connection is destroyed on release.
    this.#pool.on('connect', (client) => client.on('error', ignore));

    this.breaker =
      options.breaker === false
        ? undefined
        : (options.breaker ??
          createBreaker({
            name: 'db',
            strategy: consecutive(5),
            openMs: 2_000,
            maxOpenMs: 30_000,
            isFailure: isOutage,
          }));

    this.#hooks = {
      run: (client, text, parameters, failed) => this.#run(client, text, parameters, failed),
      replace: (wrapper) =>
        this.#checkout().then((client) => {
          this.#wrappers.set(client, wrapper);
          return client;
        }),
      reused: (client) => this.#seen.has(client),
      released: (client) => this.#seen.add(client),
    };
    const pool: PostgresPool = {
      connect: () => this.#connect(),
      end: () => this.#pool.end(),
      // Kysely cancels an aborted query from a connection of its own, made with these.
      Client: pg.Client,
      options: this.#pool.options,
    };
    this.kysely = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    this.#unregisterMetrics = registerMetricsSource(() => this.recordMetrics());
  }

  // Promise chains and handlers made once, rather than async functions: this path runs for every query.
  #connect(): Promise<PostgresPoolClient> {
    return this.#checkout().then(this.#wrap);
  }

  readonly #wrap = (client: pg.PoolClient): PooledClient => {
    let wrapper = this.#wrappers.get(client);
    if (!wrapper) {
      wrapper = new PooledClient(client, this.#hooks);
      this.#wrappers.set(client, wrapper);
    }
    wrapper.checkedOut();
    return wrapper;
  };

  #checkout(): Promise<pg.PoolClient> {
    if (this.#closing) {
      return Promise.reject(new InfraError('the db is closed', { type: 'internal', component: 'db' }));
    }
    // Only a new connection can find the database down, so only opening one goes through the circuit; an idle
    // or awaited connection comes without it (its statements still do), which spares every query a hop.
    const opensOne = this.#pool.idleCount === 0 && this.#pool.totalCount < this.#max;
    const connecting =
      this.breaker && opensOne ? this.breaker.execute(this.#poolConnect) : this.#poolConnect();
    return connecting.catch(this.#connectFailed);
  }

  readonly #poolConnect = () => this.#pool.connect();

  readonly #connectFailed = (error: unknown): never => {
    this.#stats.errors++;
    throw classifyError(error, 'db');
  };

  /**
   * Runs one statement on a connection: through the breaker, timed, errors classified and handed to `failed`,
   * whose answer (a retry's result, or a throw) becomes the statement's.
   */
  #run(
    client: pg.PoolClient,
    text: string,
    parameters: readonly unknown[],
    failed: (error: InfraError) => unknown,
  ): Promise<unknown> {
    const started = performance.now();
    const query = () => client.query(text, parameters as unknown[]);
    return (this.breaker ? this.breaker.execute(query) : query()).then(
      (result) => {
        this.#timed(text, started);
        return result;
      },
      (error: unknown) => {
        this.#timed(text, started);
        this.#stats.errors++;
        return failed(classifyError(error, 'db'));
      },
    );
  }

  #timed(text: string, started: number): void {
    const ms = performance.now() - started;
    this.#stats.queries++;
    if (this.#durations.length < MAX_DURATION_SAMPLES) this.#durations.push(ms);
    if (ms >= this.#slowQueryMs) {
      this.#stats.slowQueries++;
      logger.warn('slow query', {
        durationMs: Math.round(ms * 10) / 10,
        thresholdMs: this.#slowQueryMs,
        // The statement, never its parameters: they may carry personal data.
        sql: text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text,
      });
    }
  }

  /**
   * Runs `fn` in one transaction and commits, or rolls back and throws. A serialization failure (40001) or a
   * deadlock (40P01) runs `fn` again from the start after a jittered backoff, so `fn` must have no effects
   * outside the database. Errors thrown by `fn` itself come back unchanged.
   */
  async transaction<T>(
    fn: (trx: Transaction<Schema>) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const retries = options.retries ?? this.#transactionRetries;
    for (let attempt = 0; ; attempt++) {
      try {
        let builder = this.kysely.transaction();
        if (options.isolation) builder = builder.setIsolationLevel(options.isolation);
        if (options.accessMode) builder = builder.setAccessMode(options.accessMode);
        return await builder.execute(fn);
      } catch (error) {
        const code = error instanceof InfraError ? error.code : undefined;
        if (!code || !RETRYABLE_IN_TRANSACTION.has(code) || attempt >= retries) throw error;
        this.#stats.retries++;
        // Full jitter over 10 ms × 2^attempt, at most 1 s: the conflicting transactions spread out.
        const delay = backoffDelay(attempt, { base: 10, max: 1_000, jitter: 'full' }, this.#random);
        logger.debug('transaction conflicted; running it again', {
          code,
          attempt: attempt + 1,
          delayMs: delay,
        });
        await sleep(delay);
      }
    }
  }

  /** Round trip of `select 1`, in milliseconds. */
  async ping(): Promise<number> {
    const started = performance.now();
    await sql`select 1`.execute(this.kysely);
    return performance.now() - started;
  }

  stats(): DbStats {
    return {
      total: this.#pool.totalCount,
      idle: this.#pool.idleCount,
      waiting: this.#pool.waitingCount,
      max: this.#max,
      ...this.#stats,
    };
  }

  /** Records the invocation's query durations and errors; the handler base calls it once per invocation. */
  recordMetrics(): void {
    for (const ms of this.#durations) recordMetric('dbQueryDuration', ms);
    this.#durations = [];
    if (this.#stats.errors > this.#recordedErrors) {
      recordMetric('dbErrors', this.#stats.errors - this.#recordedErrors);
      this.#recordedErrors = this.#stats.errors;
    }
  }

  /** Closes every connection; queries after it fail. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unregisterMetrics();
      await this.kysely.destroy();
    })();
    return this.#closing;
  }
}

interface PoolHooks {
  run: (
    client: pg.PoolClient,
    text: string,
    parameters: readonly unknown[],
    failed: (error: InfraError) => unknown,
  ) => Promise<unknown>;
  /** A new connection for this wrapper, in place of its lost one. */
  replace: (wrapper: PooledClient) => Promise<pg.PoolClient>;
  reused: (client: pg.PoolClient) => boolean;
  released: (client: pg.PoolClient) => void;
}

// Statements that change nothing when repeated: a read, or the start of a transaction.
const SAFE_TO_REPEAT = /^\s*(select|begin|start\s+transaction|show|values)\b/i;

/**
 * A pool connection as Kysely sees it. Statements go through the db; a connection lost
 * mid-use is destroyed on release, not returned to the pool.
 */
class PooledClient implements PostgresPoolClient {
  #client: pg.PoolClient;
  readonly #hooks: PoolHooks;
  #statements = 0;
  #broken: Error | undefined;
  #detached = false;

  constructor(client: pg.PoolClient, hooks: PoolHooks) {
    this.#client = client;
    this.#hooks = hooks;
  }

  checkedOut(): void {
    this.#statements = 0;
    this.#broken = undefined;
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's overloads (statement or cursor) meet here.
  query(statement: any, parameters?: readonly unknown[]): any {
    if (typeof statement !== 'string') return this.#client.query(statement);
    const first = this.#statements++ === 0;
    const params = parameters ?? [];
    return this.#hooks.run(this.#client, statement, params, (error) => {
      if (error.type !== 'connection') throw error;
      // An idle connection can die unseen: the container was frozen, or the proxy closed it. Its first
      // statement then fails before reaching a server, and a read or a BEGIN may go again on a new one.
      if (!(first && this.#hooks.reused(this.#client) && SAFE_TO_REPEAT.test(statement))) {
        this.#broken = error;
        throw error;
      }
      this.#client.release(error);
      // Until a new connection comes, this wrapper holds none: if none can be made (the database is down),
      // Kysely's release must not hand the lost one back a second time, which pg refuses with a throw.
      this.#detached = true;
      return this.#hooks.replace(this).then((client) => {
        this.#client = client;
        this.#detached = false;
        return this.#hooks.run(client, statement, params, this.#lost);
      });
    });
  }

  readonly #lost = (error: InfraError): never => {
    if (error.type === 'connection') this.#broken = error;
    throw error;
  };

  /** The backend's pid, which Kysely reads to cancel a query. */
  get processID(): number | undefined {
    return (this.#client as { processID?: number }).processID;
  }

  release(destroy?: boolean): void {
    if (this.#detached) return;
    this.#hooks.released(this.#client);
    this.#client.release(destroy ? true : this.#broken);
  }
}

/** A database for a Lambda function; see `Db`. */
export function createDb<Schema>(options: DbOptions): Db<Schema> {
  return new Db<Schema>(options);
}
