import { randomUUID } from 'node:crypto';
import { createClient, createCluster } from '@redis/client';
import { type Breaker, consecutive, createBreaker } from '../breaker/index.ts';
import {
  backoffDelay,
  checkOptions,
  classifyError,
  InfraError,
  sleep,
  TimeoutQueue,
  withDefaults,
} from '../errors/index.ts';
import { recordMetric, registerMetricsSource } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { cacheOptionDefaults, cacheOptionRules } from './environment.ts';
import { type IamAuthOptions, iamCredentialsProvider } from './iamAuth.ts';
import { MemoryCache, type MemoryCacheOptions } from './MemoryCache.ts';

export type CacheAuth =
  | { type: 'none' }
  | { type: 'password'; username?: string; password: string }
  | ({ type: 'iam' } & Omit<IamAuthOptions, 'region'> & { region?: string });

export interface CacheOptions {
  /** `redis://host:port` or `rediss://host:port` (TLS). */
  url: string;
  /**
   * PEM of a private CA to trust for `rediss://`; ElastiCache's certificates chain to public CAs and need
   * none. Certificates are always verified.
   */
  tlsCaPem?: string;
  /** Cluster mode: ElastiCache Serverless is a cluster behind one endpoint. */
  cluster?: boolean;
  auth?: CacheAuth;
  /** Prefix of every key; default `{env}:{service}:` from the bindings. */
  namespace?: string;
  /** TTL of `set` and `getOrSet` when none is given; default 300 s. */
  defaultTtlSeconds?: number;
  /** No command waits longer; default 500 ms. */
  commandTimeoutMs?: number;
  /** How long the first use waits for the connection; default 1000 ms. */
  connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts; default 2000 ms. */
  maxReconnectDelayMs?: number;
  /** The in-process level; off unless given. */
  l1?: MemoryCacheOptions | false;
  /**
   * The circuit in front of Redis: once it opens, reads are misses and writes are skipped at once, instead of
   * each waiting for its timeout. Default: 5 failures in a row open it for 2 s (growing to 30 s while Redis
   * stays away). `false` for none.
   */
  breaker?: Breaker | false;
  /** Clock in milliseconds; injected by tests. */
  now?: () => number;
}

export interface GetOrSetOptions<T = unknown> {
  /** Fixed, or chosen per value: a "not found" kept briefly, a found value for long. */
  ttlSeconds?: number | ((value: T) => number);
  /** How long other containers wait for the one that loads, before loading themselves; default 2000 ms. */
  waitMs?: number;
  /** How long the load lock lives if its holder dies; default 10 s. */
  lockTtlMs?: number;
  /** Reload in the background once this fraction of the TTL has passed (0-1); off by default. */
  refreshAhead?: number;
}

export interface LockOptions {
  /** The lock expires on its own after this; default 10 s. */
  ttlMs?: number;
  /** How long to keep trying before giving up with an error; default 0 (one try). */
  waitMs?: number;
}

export interface Lock {
  readonly key: string;
  readonly token: string;
  /** Grows by one with every acquisition of this key: pass it to whatever must reject stale holders. */
  readonly fence: number;
  /** False when the lock had expired or passed to another owner. */
  release(): Promise<boolean>;
  extend(ttlMs: number): Promise<boolean>;
}

export interface CacheStats {
  l1: { hits: number; misses: number; size: number; bytes: number };
  redis: { hits: number; misses: number; errors: number; commands: number; totalLatencyMs: number };
  loads: number;
}

type Client = ReturnType<typeof createClient>;
type Cluster = ReturnType<typeof createCluster>;
type Connection = Client | Cluster;

// Owner-only lock scripts: a lock is released or extended only by the token that took it.
const ACQUIRE = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

function encode(key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    // A BigInt, or a value that refers to itself.
    throw new InfraError(`cache value for "${key}" cannot be JSON: ${(error as Error).message}`, {
      type: 'validation',
      component: 'cache',
      cause: error,
    });
  }
  if (json === undefined) {
    throw new InfraError(`cache value for "${key}" must be JSON: got ${typeof value}`, {
      type: 'validation',
      component: 'cache',
    });
  }
  return json;
}

/** A stored value, or none for a missing key or one that is not JSON (written by something else): a miss, replaced. */
function stored<T>(json: unknown): { value: T } | undefined {
  if (typeof json !== 'string') return undefined;
  try {
    return { value: JSON.parse(json) as T };
  } catch {
    return undefined;
  }
}

function defaultNamespace(): string {
  const env = process.env.LAMBDA_INFRA_ENV;
  const service = process.env.LAMBDA_INFRA_SERVICE ?? process.env.POWERTOOLS_SERVICE_NAME;
  if (!env || !service) {
    throw new InfraError(
      'the cache namespace needs LAMBDA_INFRA_ENV and LAMBDA_INFRA_SERVICE, or an explicit namespace',
      {
        type: 'config',
        component: 'cache',
      },
    );
  }
  return `${env}:${service}:`;
}

/**
 * A cache on Redis or ElastiCache: JSON values under a namespace, an optional in-process level, getOrSet
 * without stampedes, and locks. Connects on first use and keeps the connection for the container's life.
 * When Redis is down or slow, reads are misses, writes are skipped, and nothing waits past the command
 * timeout; it reconnects by itself.
 */
export class Cache {
  readonly namespace: string;
  readonly defaultTtlSeconds: number;
  readonly #options: CacheOptions & typeof cacheOptionDefaults;
  readonly #l1: MemoryCache | undefined;
  readonly #inflight = new Map<string, Promise<unknown>>();
  // Read-your-writes for the L1: how many reads of a key are in flight, and the sequence of the last write to
  // it meanwhile. Entries live only while a read of the key is in flight.
  readonly #readsInFlight = new Map<string, number>();
  readonly #writtenAt = new Map<string, number>();
  // The latest write of each key still in flight, so that an older one settling later does not fill the L1.
  readonly #lastWrite = new Map<string, number>();
  #writeSeq = 0;
  readonly #now: () => number;
  readonly #timeouts: TimeoutQueue;
  #connection: Connection | undefined;
  #firstConnect: Promise<unknown> | undefined;
  #waitedForFirstConnect = false;
  #firstWait: Promise<void> | undefined;
  #wasReady = false;
  #closed = false;
  readonly #stats: CacheStats = {
    l1: { hits: 0, misses: 0, size: 0, bytes: 0 },
    redis: { hits: 0, misses: 0, errors: 0, commands: 0, totalLatencyMs: 0 },
    loads: 0,
  };

  readonly #unregisterMetrics: () => void;
  /** The circuit in front of Redis; undefined when turned off. */
  readonly breaker: Breaker | undefined;
  #published = { l1Hits: 0, l1Misses: 0, hits: 0, misses: 0, errors: 0, commands: 0, latencyMs: 0 };

  constructor(options: CacheOptions) {
    this.#options = withDefaults(cacheOptionDefaults, options);
    checkOptions('cache', cacheOptionRules, this.#options);
    // Only once the options hold: a cache refused at construction leaves nothing registered behind.
    this.#unregisterMetrics = registerMetricsSource(() => this.recordMetrics());
    this.namespace = options.namespace ?? defaultNamespace();
    this.defaultTtlSeconds = this.#options.defaultTtlSeconds;
    this.#now = options.now ?? Date.now;
    const { commandTimeoutMs } = this.#options;
    this.#timeouts = new TimeoutQueue(
      commandTimeoutMs,
      () =>
        new InfraError(`the cache did not answer within ${commandTimeoutMs} ms`, {
          type: 'timeout',
          component: 'cache',
          code: 'COMMAND_TIMEOUT',
        }),
    );
    this.#l1 = options.l1 ? new MemoryCache({ ...options.l1, now: this.#now }) : undefined;
    this.breaker =
      options.breaker === false
        ? undefined
        : (options.breaker ??
          createBreaker({ name: 'cache', strategy: consecutive(5), openMs: 2_000, maxOpenMs: 30_000 }));
  }

  #connect(): Connection {
    const o = this.#options;
    const commandTimeoutMs = this.#timeouts.timeoutMs;
    const maxDelay = o.maxReconnectDelayMs;
    const socket = {
      ...(o.tlsCaPem ? { ca: o.tlsCaPem } : {}),
      connectTimeout: o.connectTimeoutMs,
      // Bounded backoff with jitter; never gives up, so the cache recovers when Redis returns.
      reconnectStrategy: (retries: number) =>
        backoffDelay(retries, { base: 50, max: maxDelay, jitter: 'equal' }),
    };
    const auth = o.auth ?? { type: 'none' };
    const credentials =
      auth.type === 'iam'
        ? {
            credentialsProvider: iamCredentialsProvider({
              ...auth,
              region: auth.region ?? process.env.AWS_REGION ?? '',
            }),
          }
        : auth.type === 'password'
          ? { username: auth.username, password: auth.password }
          : {};
    const common = {
      ...credentials,
      // Commands while disconnected fail at once instead of queueing past their timeout.
      disableOfflineQueue: true,
      commandOptions: { timeout: commandTimeoutMs },
    };
    const connection: Connection = o.cluster
      ? createCluster({ rootNodes: [{ url: o.url }], defaults: { ...common, socket } })
      : createClient({ url: o.url, ...common, socket });
    connection.on('error', (error: unknown) => {
      if (this.#wasReady) {
        this.#wasReady = false;
        logger.warn('cache connection lost; reads are misses until it returns', {
          error: classifyError(error, 'cache').toJSON(),
        });
      }
    });
    if (!o.cluster) {
      (connection as Client).on('ready', () => {
        if (!this.#wasReady) logger.info('cache connected');
        this.#wasReady = true;
      });
    }
    this.#firstConnect = connection.connect().then(
      () => {
        this.#wasReady = true;
      },
      () => {},
    );
    return connection;
  }

  /**
   * The connection, waiting for it only on first use and only up to the connect timeout. Every command of
   * that first moment shares the one wait, rather than finding the client offline.
   */
  async #ready(): Promise<Connection> {
    if (this.#closed) throw new InfraError('the cache is closed', { type: 'internal', component: 'cache' });
    this.#connection ??= this.#connect();
    if (!this.#waitedForFirstConnect) {
      this.#firstWait ??= (async () => {
        const timeoutMs = this.#options.connectTimeoutMs;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.#firstConnect,
          new Promise((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        this.#waitedForFirstConnect = true;
      })();
      await this.#firstWait;
    }
    return this.#connection;
  }

  /** Runs one command: timed, counted, and failing as an InfraError. */
  #run<T>(command: (connection: Connection) => Promise<T>): Promise<T> {
    // The hot path: once connected, no extra await before the command goes out.
    const connection = this.#connection;
    if (connection !== undefined && this.#waitedForFirstConnect && !this.#closed) {
      return this.#exec(connection, command);
    }
    return this.#ready().then((ready) => this.#exec(ready, command));
  }

  /**
   * One command, settled within the command timeout whatever Redis does. node-redis's own `timeout` only
   * bounds a command that is still waiting to be written: once written, it waits for its reply for as long
   * as the socket stays open, which is forever when Redis is paused or busy. The command is not taken back
   * from node-redis (its replies are matched in order, so a late reply still lands on its own command and
   * is dropped); only this caller stops waiting.
   */
  #bounded<T>(connection: Connection, command: (connection: Connection) => Promise<T>): Promise<T> {
    return this.#timeouts.bound(command(connection));
  }

  #exec<T>(connection: Connection, command: (connection: Connection) => Promise<T>): Promise<T> {
    const stats = this.#stats.redis;
    const started = performance.now();
    stats.commands++;
    let pending: Promise<T>;
    try {
      // Inside the circuit: a timeout counts as a failure, so a hung Redis opens it and later calls do not wait.
      pending = this.breaker
        ? this.breaker.execute(() => this.#bounded(connection, command))
        : this.#bounded(connection, command);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (reply) => {
        stats.totalLatencyMs += performance.now() - started;
        return reply;
      },
      (error: unknown) => {
        stats.totalLatencyMs += performance.now() - started;
        stats.errors++;
        throw classifyError(error, 'cache');
      },
    );
  }

  /** A read that turns a failure into a miss. */
  #read<T>(command: (connection: Connection) => Promise<T>, miss: T): Promise<T> {
    return this.#run(command).catch(() => miss);
  }

  /** A write that turns a failure into `false`. */
  #write(command: (connection: Connection) => Promise<unknown>): Promise<boolean> {
    return this.#run(command).then(
      () => true,
      () => false,
    );
  }

  key(key: string): string {
    return this.namespace + key;
  }

  /** The L1's slot for a key, counting the hit or the miss; undefined without an L1. */
  #fromL1(full: string): { value: unknown } | undefined {
    if (this.#l1 === undefined) return undefined;
    const slot = this.#l1.get(full);
    if (slot === undefined) this.#stats.l1.misses++;
    else this.#stats.l1.hits++;
    return slot;
  }

  /**
   * Keeps a value this container wrote to Redis in the L1, in its JSON form (what every other container
   * reads), for at most `ttlSeconds` and the L1's own TTL.
   */
  #remember(full: string, value: unknown, json: string, ttlSeconds: number): void {
    this.#l1?.set(full, value, Buffer.byteLength(json), ttlSeconds * 1_000);
  }

  /**
   * Keeps a value read from Redis in the L1 for the L1's TTL, unless this container wrote the key after the
   * read began (`readSince`): that read's value is older than the write's and must not hide it.
   */
  #rememberRead(full: string, value: unknown, json: string, readSince: number): void {
    if (this.#l1 === undefined || (this.#writtenAt.get(full) ?? -1) > readSince) return;
    this.#l1.set(full, value, Buffer.byteLength(json));
  }

  /** Marks the start of a read that may fill the L1; returns the write sequence it saw. */
  #beginRead(full: string): number {
    this.#readsInFlight.set(full, (this.#readsInFlight.get(full) ?? 0) + 1);
    return this.#writeSeq;
  }

  #endRead(full: string): void {
    const left = (this.#readsInFlight.get(full) ?? 1) - 1;
    if (left > 0) {
      this.#readsInFlight.set(full, left);
      return;
    }
    this.#readsInFlight.delete(full);
    this.#writtenAt.delete(full);
  }

  /**
   * A write of this container to a key begins: its L1 entry goes, reads of it in flight will not fill it, and
   * an earlier write still in flight will not either. Returns the write's sequence number.
   */
  #wrote(full: string): number {
    if (this.#l1 === undefined) return 0;
    this.#l1.delete(full);
    const seq = ++this.#writeSeq;
    this.#lastWrite.set(full, seq);
    if (this.#readsInFlight.has(full)) this.#writtenAt.set(full, seq);
    return seq;
  }

  /** A write has settled; true when it is still the key's latest one from this container. */
  #settled(full: string, seq: number): boolean {
    if (this.#lastWrite.get(full) !== seq) return false;
    this.#lastWrite.delete(full);
    return true;
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    const full = this.namespace + key;
    const slot = this.#fromL1(full);
    if (slot !== undefined) return Promise.resolve(slot.value as T);
    const l1 = this.#l1;
    const since = l1 === undefined ? 0 : this.#beginRead(full);
    return this.#read((c) => c.get(full), null).then((json) => {
      if (json === null || json === undefined) {
        if (l1 !== undefined) this.#endRead(full);
        this.#stats.redis.misses++;
        return undefined;
      }
      this.#stats.redis.hits++;
      const value = JSON.parse(json as string) as T;
      if (l1 !== undefined) {
        this.#rememberRead(full, value, json as string, since);
        this.#endRead(full);
      }
      return value;
    });
  }

  /** Best effort: false when Redis did not take it. Clears this container's L1 entry either way. */
  set(key: string, value: unknown, ttlSeconds = this.defaultTtlSeconds): Promise<boolean> {
    const full = this.namespace + key;
    let json: string;
    try {
      json = encode(key, value);
    } catch (error) {
      return Promise.reject(error);
    }
    const l1 = this.#l1;
    const seq = this.#wrote(full);
    return this.#run((c) => c.set(full, json, { EX: ttlSeconds })).then(
      () => {
        // The JSON form, as every other container reads it: a Date comes back a string, undefined fields go.
        if (l1 !== undefined && this.#settled(full, seq))
          this.#remember(full, JSON.parse(json), json, ttlSeconds);
        return true;
      },
      () => {
        if (l1 !== undefined) this.#settled(full, seq);
        return false;
      },
    );
  }

  async del(...keys: string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    const full = keys.map((k) => this.key(k));
    const seqs = full.map((k) => this.#wrote(k));
    const done = (ok: boolean) => {
      for (let i = 0; i < full.length; i++) this.#settled(full[i]!, seqs[i]!);
      return ok;
    };
    if (this.#options.cluster) return this.#write((c) => Promise.all(full.map((k) => c.del(k)))).then(done);
    return this.#write((c) => c.del(full)).then(done);
  }

  async mget<T = unknown>(keys: string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const full = keys.map((k) => this.key(k));
    // A cluster spreads keys over slots, where MGET cannot reach; one GET each there.
    const jsons = await this.#read(
      (c) => (this.#options.cluster ? Promise.all(full.map((k) => c.get(k))) : (c as Client).mGet(full)),
      full.map(() => null),
    );
    return jsons.map((json) => {
      if (json === null || json === undefined) {
        this.#stats.redis.misses++;
        return undefined;
      }
      this.#stats.redis.hits++;
      return JSON.parse(json as string) as T;
    });
  }

  async mset(entries: Record<string, unknown>, ttlSeconds = this.defaultTtlSeconds): Promise<boolean> {
    const pairs = Object.entries(entries).map(([k, v]) => [this.key(k), encode(k, v)] as const);
    const seqs = pairs.map(([full]) => this.#wrote(full));
    const done = (ok: boolean) => {
      for (let i = 0; i < pairs.length; i++) this.#settled(pairs[i]![0], seqs[i]!);
      return ok;
    };
    if (this.#options.cluster) {
      return this.#write((c) =>
        Promise.all(pairs.map(([k, json]) => c.set(k, json, { EX: ttlSeconds }))),
      ).then(done);
    }
    return this.#write((c) => {
      const multi = (c as Client).multi();
      for (const [k, json] of pairs) multi.set(k, json, { EX: ttlSeconds });
      return multi.exec();
    }).then(done);
  }

  async hget<T = unknown>(key: string, field: string): Promise<T | undefined> {
    const json = await this.#read((c) => c.hGet(this.key(key), field), null);
    return json === null || json === undefined ? undefined : (JSON.parse(json as string) as T);
  }

  async hset(key: string, values: Record<string, unknown>): Promise<boolean> {
    const encoded = Object.fromEntries(Object.entries(values).map(([f, v]) => [f, encode(`${key}.${f}`, v)]));
    return this.#write((c) => c.hSet(this.key(key), encoded));
  }

  async hgetall<T = unknown>(key: string): Promise<Record<string, T>> {
    const raw = await this.#read((c) => c.hGetAll(this.key(key)), {} as Record<string, string>);
    return Object.fromEntries(Object.entries(raw).map(([f, json]) => [f, JSON.parse(json as string) as T]));
  }

  async sadd(key: string, ...members: unknown[]): Promise<boolean> {
    return this.#write((c) =>
      c.sAdd(
        this.key(key),
        members.map((m) => encode(key, m)),
      ),
    );
  }

  async smembers<T = unknown>(key: string): Promise<T[]> {
    const raw = await this.#read((c) => c.sMembers(this.key(key)), [] as string[]);
    return raw.map((json) => JSON.parse(json as string) as T);
  }

  async srem(key: string, ...members: unknown[]): Promise<boolean> {
    return this.#write((c) =>
      c.sRem(
        this.key(key),
        members.map((m) => encode(key, m)),
      ),
    );
  }

  /** A counter; unlike the reads and writes above it fails with an InfraError, since no value stands in. */
  async incr(key: string, by = 1): Promise<number> {
    const full = this.key(key);
    const seq = this.#wrote(full);
    return this.#run((c) => c.incrBy(full, by)).finally(() => this.#settled(full, seq));
  }

  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    return this.#run(async (c) => Number(await c.expire(this.key(key), ttlSeconds)) === 1);
  }

  /** Seconds left: -1 for no expiry, -2 for no key. */
  async ttl(key: string): Promise<number> {
    return this.#run((c) => c.ttl(this.key(key)));
  }

  /** Round trip time in milliseconds; fails with an InfraError when Redis does not answer. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.#run(async (c) => {
      if (this.#options.cluster) await (c as Cluster).sendCommand(undefined, true, ['PING']);
      else await (c as Client).ping();
    });
    return performance.now() - started;
  }

  /**
   * The cached value, or the loader's. Concurrent misses in this process share one loader call; misses in
   * other containers wait for the one holding the load lock, up to `waitMs`, then load themselves.
   */
  getOrSet<T>(key: string, loader: () => Promise<T> | T, options: GetOrSetOptions<T> = {}): Promise<T> {
    const full = this.namespace + key;
    const slot = this.#fromL1(full);
    if (slot !== undefined) return Promise.resolve(slot.value as T);
    const running = this.#inflight.get(full) as Promise<T> | undefined;
    if (running) return running;
    const since = this.#l1 === undefined ? 0 : this.#beginRead(full);
    const flight = this.#getOrLoad(key, loader, options, since).finally(() => {
      this.#inflight.delete(full);
      if (this.#l1 !== undefined) this.#endRead(full);
    });
    this.#inflight.set(full, flight);
    return flight;
  }

  async #getOrLoad<T>(
    key: string,
    loader: () => Promise<T> | T,
    options: GetOrSetOptions<T>,
    since: number,
  ): Promise<T> {
    const ttlFor = (value: T) =>
      typeof options.ttlSeconds === 'function'
        ? options.ttlSeconds(value)
        : (options.ttlSeconds ?? this.defaultTtlSeconds);
    const full = this.key(key);
    let reachable = true;
    try {
      const [json, pttl] = await this.#run((c) =>
        options.refreshAhead
          ? Promise.all([c.get(full), c.pTTL(full)])
          : Promise.all([c.get(full), Promise.resolve(-1)]),
      );
      const found = stored<T>(json);
      if (found) {
        this.#stats.redis.hits++;
        const { value } = found;
        this.#rememberRead(full, value, json as string, since);
        const left = Number(pttl);
        const ttlSeconds = ttlFor(value);
        if (options.refreshAhead && left > 0 && left < ttlSeconds * 1_000 * (1 - options.refreshAhead)) {
          void this.#refresh(key, loader, ttlFor, options);
        }
        return value;
      }
      this.#stats.redis.misses++;
    } catch {
      reachable = false;
    }
    if (!reachable) return this.#load(key, loader);

    let held: Lock | undefined;
    try {
      held = await this.lock(`load:${key}`, { ttlMs: options.lockTtlMs ?? 10_000, waitMs: 0 });
    } catch {
      held = undefined;
    }
    if (held) {
      try {
        // The previous holder may have stored it between our read and our lock.
        const again = await this.#read((c) => c.get(full), null);
        const found = stored<T>(again);
        if (found) return found.value;
        const value = await this.#load(key, loader);
        await this.set(key, value, ttlFor(value));
        return value;
      } finally {
        await held.release().catch(() => false);
      }
    }
    // Another container is loading: wait for its value, then fall back on our own loader.
    const deadline = this.#now() + (options.waitMs ?? 2_000);
    let pause = 10;
    while (this.#now() < deadline) {
      await sleep(Math.min(pause, Math.max(1, deadline - this.#now())));
      pause = Math.min(pause * 2, 100);
      const json = await this.#read((c) => c.get(full), null);
      const found = stored<T>(json);
      if (found) {
        this.#rememberRead(full, found.value, json as string, since);
        return found.value;
      }
    }
    const value = await this.#load(key, loader);
    await this.set(key, value, ttlFor(value));
    return value;
  }

  /**
   * The loader's value in its JSON form, the form every later read of it returns from Redis or the L1 in any
   * container; a value that cannot be JSON is a validation error naming the key.
   */
  async #load<T>(key: string, loader: () => Promise<T> | T): Promise<T> {
    this.#stats.loads++;
    return JSON.parse(encode(key, await loader())) as T;
  }

  async #refresh<T>(
    key: string,
    loader: () => Promise<T> | T,
    ttlFor: (value: T) => number,
    options: GetOrSetOptions<T>,
  ) {
    let held: Lock | undefined;
    try {
      held = await this.lock(`load:${key}`, { ttlMs: options.lockTtlMs ?? 10_000, waitMs: 0 });
      const value = await this.#load(key, loader);
      await this.set(key, value, ttlFor(value));
    } catch (error) {
      if (held)
        logger.warn('cache refresh-ahead failed', { key, error: classifyError(error, 'cache').toJSON() });
    } finally {
      await held?.release().catch(() => false);
    }
  }

  /**
   * String commands on this cache's connection in the shape Powertools Idempotency's CachePersistenceLayer takes
   * (its `CacheClient`): every command bounded by the command timeout and the cache's circuit, as the cache's
   * own are, so a hung Redis fails an idempotency check instead of holding the invocation. Keys are used as
   * given (give the layer a `keyPrefix` in the namespace).
   */
  recordStore(): {
    get(key: string): Promise<string | null>;
    set(key: string, value: unknown, options?: unknown): Promise<string | null>;
    del(keys: string[]): Promise<number>;
  } {
    return {
      get: (key) => this.#run(async (c) => (await c.get(key)) as string | null),
      set: (key, value, options) =>
        this.#run(
          async (c) =>
            (await c.set(key, String(value), options as { EX?: number; NX?: boolean })) as string | null,
        ),
      del: (keys) => this.#run(async (c) => Number(await c.del(keys))),
    };
  }

  /**
   * The connected node-redis client itself, for libraries that take one (Powertools Idempotency's cache
   * persistence layer), so that one connection serves both. Keys written through it are not namespaced.
   */
  async client(): Promise<Connection> {
    return this.#ready();
  }

  /**
   * Runs a Lua script on keys of this cache's namespace (in cluster mode they must share a hash tag). Fails
   * with an InfraError; for the modules built on the cache, such as the breaker's shared store.
   */
  script(source: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const full = keys.map((k) => this.namespace + k);
    return this.#run((c) => c.eval(source, { keys: full, arguments: args.map(String) }));
  }

  /**
   * A lock held by a unique token until released or expired. One that cannot be had within `waitMs` is an
   * InfraError (type timeout, code LOCK_NOT_ACQUIRED), not a hang.
   */
  async lock(key: string, options: LockOptions = {}): Promise<Lock> {
    const ttlMs = options.ttlMs ?? 10_000;
    const waitMs = options.waitMs ?? 0;
    // The hash tag keeps lock and fence in one cluster slot, as one script must.
    const lockKey = this.key(`lock:{${key}}`);
    const fenceKey = this.key(`fence:{${key}}`);
    const token = randomUUID();
    const deadline = this.#now() + waitMs;
    let pause = 2;
    for (;;) {
      const fence = Number(
        await this.#run((c) =>
          c.eval(ACQUIRE, { keys: [lockKey, fenceKey], arguments: [token, String(ttlMs)] }),
        ),
      );
      if (fence > 0) {
        return {
          key,
          token,
          fence,
          release: () =>
            this.#run(
              async (c) => Number(await c.eval(RELEASE, { keys: [lockKey], arguments: [token] })) === 1,
            ),
          extend: (ms: number) =>
            this.#run(
              async (c) =>
                Number(await c.eval(EXTEND, { keys: [lockKey], arguments: [token, String(ms)] })) === 1,
            ),
        };
      }
      const left = deadline - this.#now();
      if (left <= 0) {
        throw new InfraError(
          `lock "${key}" is held by another owner and was not acquired within ${waitMs} ms`,
          {
            type: 'timeout',
            component: 'cache',
            code: 'LOCK_NOT_ACQUIRED',
          },
        );
      }
      await sleep(Math.min(left, pause * (0.5 + Math.random())));
      pause = Math.min(pause * 2, 50);
    }
  }

  /**
   * Records what changed since the last call as metrics: hits and misses per level, errors, and the mean
   * command latency. Handlers built on this library call it at the end of every invocation.
   */
  recordMetrics(): void {
    const { l1, redis } = this.#stats;
    const last = this.#published;
    const now = {
      l1Hits: l1.hits,
      l1Misses: l1.misses,
      hits: redis.hits,
      misses: redis.misses,
      errors: redis.errors,
      commands: redis.commands,
      latencyMs: redis.totalLatencyMs,
    };
    const commands = now.commands - last.commands;
    if (now.l1Hits > last.l1Hits) recordMetric('cacheHits', now.l1Hits - last.l1Hits, { level: 'L1' });
    if (now.l1Misses > last.l1Misses)
      recordMetric('cacheMisses', now.l1Misses - last.l1Misses, { level: 'L1' });
    if (now.hits > last.hits) recordMetric('cacheHits', now.hits - last.hits, { level: 'Redis' });
    if (now.misses > last.misses) recordMetric('cacheMisses', now.misses - last.misses, { level: 'Redis' });
    if (now.errors > last.errors)
      recordMetric('cacheErrors', now.errors - last.errors, { component: 'cache' });
    if (commands > 0) {
      recordMetric('cacheCommandLatency', (now.latencyMs - last.latencyMs) / commands, {
        component: 'cache',
      });
    }
    this.#published = now;
  }

  stats(): CacheStats {
    return {
      l1: { ...this.#stats.l1, size: this.#l1?.size ?? 0, bytes: this.#l1?.bytes ?? 0 },
      redis: { ...this.#stats.redis },
      loads: this.#stats.loads,
    };
  }

  /** Closes the connection; in Lambda the container's end does this, so handlers need not. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unregisterMetrics();
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) await connection.close().catch(() => connection.destroy());
  }
}

export function createCache(options: CacheOptions): Cache {
  return new Cache(options);
}
