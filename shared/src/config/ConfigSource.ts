import { GetParametersByPathCommand, GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import type { Cache } from '../cache/createCache.ts';
import {
  type Backoff,
  backoffDelay,
  classifyError,
  type FieldError,
  InfraError,
  sleep,
} from '../errors/index.ts';
import { recordMetric } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { parameterPath, readBinding, readOptionalBinding } from './bindings.ts';
import { fieldErrors, layerConfig } from './layering.ts';

/** The component of every service that tunes config itself: `/config/{env}/{service}/config`. */
export const CONFIG_COMPONENT = 'config';

/** The service's own `config` component: how long config is kept, and how soon SSM is asked again after a failure. */
export const configTuningSchema = z.object({
  /** How long a loaded config is used before SSM is asked again. */
  ttlSeconds: z.number().int().min(0).max(86_400),
  /** After a failed refresh, how long the last good config is used before SSM is asked again. */
  retryAfterSeconds: z.number().int().min(1).max(3_600),
});
type ConfigTuning = z.infer<typeof configTuningSchema>;
export const configTuningDefaults: ConfigTuning = { ttlSeconds: 60, retryAfterSeconds: 10 };

export interface Snapshot {
  /** Component name -> the raw parameter value (decrypted). */
  readonly raw: ReadonlyMap<string, string>;
  /** When SSM was read for it, by this container or, for a shared config, by the one that loaded it. */
  readonly loadedAt: number;
  readonly version: number;
  /** `ssm`: this container read the path; `cache`: another container's load, read from the fleet's cache. */
  readonly origin: 'ssm' | 'cache';
}

/** How loads are retried while SSM answers with throttling, on top of the SDK's own attempts. */
export interface ThrottleRetry {
  /** Loads after the first; each waits its backoff first. */
  readonly retries: number;
  readonly backoff: Backoff;
}

/** Four more loads over about 2 s on average (3.75 s at most), each with the SDK's own three attempts. */
export const throttleRetryDefaults: ThrottleRetry = {
  retries: 4,
  backoff: { base: 250, max: 2_000, jitter: 'full' },
};

/**
 * What the fleet shares in the cache: the String values of one service's path, and the names of its
 * SecureStrings, whose values each container reads from SSM itself and which never reach the cache.
 */
interface SharedConfig {
  v: 1;
  loadedAt: number;
  values: Record<string, string>;
  secure: string[];
}

const SHARED_FORMAT = 1;

/** Where the fleet's copy of a service's config sits in the cache; `sharedConfigKey(env, '*')` matches an env's. */
export function sharedConfigKey(env: string, service: string): string {
  return `lambda-infra:config:v${SHARED_FORMAT}:${env}:${service}`;
}

/** The shared config's shape, checked: a value in the cache that is not one is not trusted. */
function sharedConfigOf(value: unknown): SharedConfig | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { v, loadedAt, values, secure } = value as Record<string, unknown>;
  if (v !== SHARED_FORMAT || typeof loadedAt !== 'number' || !Number.isFinite(loadedAt)) return undefined;
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return undefined;
  if (!Object.entries(values).every(([k, raw]) => COMPONENT.test(k) && typeof raw === 'string')) {
    return undefined;
  }
  if (!Array.isArray(secure) || !secure.every((name) => typeof name === 'string' && COMPONENT.test(name))) {
    return undefined;
  }
  return value as SharedConfig;
}

const COMPONENT = /^[a-zA-Z0-9_.-]{1,1011}$/;

/** One load from SSM: the values by component, and which of them are SecureStrings. */
interface Loaded {
  readonly raw: Map<string, string>;
  readonly secure: Set<string>;
  readonly loadedAt: number;
}

/** How one defined component stands, for the config health check. */
export interface ComponentStatus {
  readonly component: string;
  readonly parameterName: string;
  /**
   * Set while the newest value is unusable (invalid, not JSON, or its parameter deleted): an older good value is
   * in use when `loaded`, none otherwise.
   */
  invalid?: string | undefined;
  /** The fields of `invalid`, each naming the field, the rule and where its value came from. */
  fields?: FieldError[] | undefined;
  loaded: boolean;
}

export interface ConfigSourceOptions {
  env?: string;
  service?: string;
  /** An SSM client of your own; by default one that takes its endpoint from AWS_ENDPOINT_URL(_SSM). */
  client?: SSMClient;
  /** Clock in milliseconds; injected by tests. */
  now?: () => number;
  /** Process environment for overrides; injected by tests. */
  environment?: NodeJS.ProcessEnv;
  /**
   * Where the fleet shares the service's config, so that one container per TTL reads SSM and the others read
   * the cache (single flight across containers, through `getOrSet`). SecureString values are never put there:
   * each container reads those from SSM. Default: a cache on LAMBDA_INFRA_CACHE_URL when that is set, none
   * otherwise; `false` for none.
   */
  share?: Cache | false;
  /** Retries while SSM throttles; default {@link throttleRetryDefaults}. */
  throttleRetry?: ThrottleRetry;
}

/**
 * All components of one service, loaded together with GetParametersByPath (paginated, through Powertools
 * Parameters) and reused until the TTL passes. A failed refresh keeps the last good snapshot.
 */
export class ConfigSource {
  readonly env: string;
  readonly service: string;
  readonly path: string;
  readonly environment: NodeJS.ProcessEnv;
  readonly #client: SSMClient;
  readonly #now: () => number;
  readonly #throttleRetry: ThrottleRetry;
  /** The share given, or `undefined` until the default one is made (`null`: none). */
  #share: Cache | null | undefined;
  #ownShare: Promise<Cache | null> | undefined;
  readonly #components = new Map<string, ComponentStatus>();
  #snapshot: Snapshot | undefined;
  #inflight: Promise<Snapshot> | undefined;
  #tuning: ConfigTuning = configTuningDefaults;
  #nextLoadAt = 0;
  #lastFailure: InfraError | undefined;
  #tuningProblem: string | undefined;
  #tuningFromParameter = false;
  #version = 0;

  constructor(options: ConfigSourceOptions = {}) {
    this.environment = options.environment ?? process.env;
    this.env = options.env ?? readBinding('env', this.environment);
    this.service = options.service ?? readBinding('service', this.environment);
    this.path = parameterPath(this.env, this.service);
    this.#now = options.now ?? Date.now;
    this.#client =
      options.client ??
      new SSMClient({
        // Without throwOnRequestTimeout the SDK only warns when the timeout passes, and a hung SSM hangs the function.
        requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
        maxAttempts: 3,
      });
    this.#throttleRetry = options.throttleRetry ?? throttleRetryDefaults;
    this.#share = options.share === false ? null : options.share;
    if (options.share === undefined && !readOptionalBinding('cacheUrl', this.environment)) this.#share = null;
  }

  /** The cache key of the shared config: one per env and service, and per format. */
  get sharedKey(): string {
    return sharedConfigKey(this.env, this.service);
  }

  /** Closes the cache connection this source made for sharing; a share that was given is left open. */
  async close(): Promise<void> {
    const own = await this.#ownShare;
    this.#ownShare = undefined;
    if (own) await own.close();
  }

  parameterName(component: string): string {
    return `${this.path}/${component}`;
  }

  get ttlSeconds(): number {
    return this.#tuning.ttlSeconds;
  }

  /** The failure of the last refresh, while the last good snapshot stands in for it. */
  get lastFailure(): InfraError | undefined {
    return this.#lastFailure;
  }

  /** Changes with every successful load; 0 before the first. */
  get version(): number {
    return this.#snapshot?.version ?? 0;
  }

  /** Seconds since the snapshot in use was loaded; undefined before the first load. */
  ageSeconds(): number | undefined {
    return this.#snapshot ? Math.round((this.#now() - this.#snapshot.loadedAt) / 1_000) : undefined;
  }

  /** True while the snapshot may be used without asking SSM. */
  isFresh(): boolean {
    return this.#snapshot !== undefined && this.#now() < this.#nextLoadAt;
  }

  /** The snapshot, loading it first when stale; concurrent callers share one load. */
  current(): Promise<Snapshot> {
    if (this.isFresh()) return Promise.resolve(this.#snapshot!);
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** Components defined on this source, with their standing. */
  components(): ReadonlyMap<string, ComponentStatus> {
    return this.#components;
  }

  register(component: string): ComponentStatus {
    let status = this.#components.get(component);
    if (!status) {
      status = { component, parameterName: this.parameterName(component), loaded: false };
      this.#components.set(component, status);
    }
    return status;
  }

  async #load(): Promise<Snapshot> {
    try {
      const share = await this.#shareCache();
      const { loaded, tuned, origin } = share
        ? await this.#loadShared(share)
        : { loaded: await this.#fromSsm(), tuned: false, origin: 'ssm' as const };
      const snapshot: Snapshot = {
        raw: loaded.raw,
        loadedAt: loaded.loadedAt,
        version: ++this.#version,
        origin,
      };
      this.#snapshot = snapshot;
      this.#lastFailure = undefined;
      if (!tuned) this.#tune(loaded.raw.get(CONFIG_COMPONENT));
      const ttlMs = this.#tuning.ttlSeconds * 1_000;
      const now = this.#now();
      // A shared config expires for every container at once; one read late in its life still waits a moment,
      // and none is kept longer than the TTL from now, whatever time the copy in the cache claims.
      this.#nextLoadAt = Math.min(
        now + ttlMs,
        Math.max(loaded.loadedAt + ttlMs, now + Math.min(ttlMs, 1_000)),
      );
      return snapshot;
    } catch (error) {
      const failure =
        error instanceof InfraError && error.component === 'config'
          ? error
          : this.#failure(classifyError(error, 'ssm'), error);
      if (!this.#snapshot) throw failure;
      this.#lastFailure = failure;
      this.#nextLoadAt = this.#now() + this.#tuning.retryAfterSeconds * 1_000;
      logger.warn('config refresh failed; keeping the last good config', {
        path: this.path,
        error: failure.toJSON(),
        lastGoodAgeSeconds: Math.round((this.#now() - this.#snapshot.loadedAt) / 1_000),
      });
      recordMetric('configRefreshFailed', 1, { component: CONFIG_COMPONENT });
      return this.#snapshot;
    }
  }

  #failure(cause: InfraError, error: unknown, detail = cause.message): InfraError {
    return new InfraError(`could not load config from SSM path ${this.path}: ${detail}`, {
      type: cause.type === 'internal' ? 'config' : cause.type,
      component: 'config',
      retryable: cause.retryable,
      cause: error,
      ...(cause.code ? { code: cause.code } : {}),
    });
  }

  /** The share in use, made on first use from the cache bindings when none was given. */
  async #shareCache(): Promise<Cache | null> {
    if (this.#share !== undefined) return this.#share;
    this.#ownShare ??= (async () => {
      try {
        const [{ createCache }, { cacheConfigDefaults, cacheOptionsFromEnvironment }] = await Promise.all([
          import('../cache/createCache.ts'),
          import('../cache/environment.ts'),
        ]);
        // The cache's own tunables are config: the share runs on their defaults.
        return createCache({
          ...cacheOptionsFromEnvironment(cacheConfigDefaults, this.environment),
          namespace: '',
        });
      } catch (error) {
        logger.warn('config is not shared through the cache: its bindings are unusable', {
          error: classifyError(error, 'cache').toJSON(),
        });
        return null;
      }
    })();
    this.#share = await this.#ownShare;
    return this.#share;
  }

  /**
   * The service's config through the fleet's cache: read there, or loaded from SSM by the one container that
   * takes the load lock while the others wait for its value. An unreachable cache, or a value there that is
   * not a shared config, means SSM.
   */
  async #loadShared(share: Cache): Promise<{ loaded: Loaded; tuned: boolean; origin: 'ssm' | 'cache' }> {
    let ours: Loaded | undefined;
    let loaderFailure: unknown;
    const loader = async (): Promise<SharedConfig> => {
      try {
        ours = await this.#fromSsm();
      } catch (error) {
        loaderFailure = error;
        throw error;
      }
      this.#tune(ours.raw.get(CONFIG_COMPONENT));
      return toShared(ours);
    };
    let shared: SharedConfig | undefined;
    try {
      const value = await share.getOrSet<unknown>(this.sharedKey, loader, {
        // Long enough for a load that SSM throttles, so that waiting containers do not all turn to SSM.
        ttlSeconds: () => Math.max(1, this.#tuning.ttlSeconds),
        waitMs: 10_000,
        lockTtlMs: 15_000,
      });
      shared = sharedConfigOf(value);
    } catch (error) {
      if (loaderFailure !== undefined) throw loaderFailure;
      logger.warn('the shared config could not be read from the cache; loading from SSM', {
        key: this.sharedKey,
        error: classifyError(error, 'cache').toJSON(),
      });
    }
    if (ours) return { loaded: ours, tuned: true, origin: 'ssm' };
    if (!shared) {
      // Unreadable or not ours: replace it with this container's load.
      const loaded = await this.#fromSsm();
      this.#tune(loaded.raw.get(CONFIG_COMPONENT));
      await share
        .set(this.sharedKey, toShared(loaded), Math.max(1, this.#tuning.ttlSeconds))
        .catch(() => false);
      return { loaded, tuned: true, origin: 'ssm' };
    }
    const raw = new Map(Object.entries(shared.values));
    const secure = new Set(shared.secure);
    if (secure.size > 0) {
      for (const [name, value] of await this.#secureFromSsm([...secure])) raw.set(name, value);
    }
    return {
      loaded: { raw, secure, loadedAt: Math.min(shared.loadedAt, this.#now()) },
      tuned: false,
      origin: 'cache',
    };
  }

  /** Every parameter directly under the path (GetParametersByPath, paginated, decrypted), retried while throttled. */
  #fromSsm(): Promise<Loaded> {
    return this.#throttled('GetParametersByPath', async () => {
      const raw = new Map<string, string>();
      const secure = new Set<string>();
      const prefix = `${this.path}/`;
      let NextToken: string | undefined;
      do {
        const page = await this.#client.send(
          new GetParametersByPathCommand({
            Path: this.path,
            Recursive: false,
            WithDecryption: true,
            MaxResults: 10,
            ...(NextToken ? { NextToken } : {}),
          }),
        );
        for (const parameter of page.Parameters ?? []) {
          if (!parameter.Name?.startsWith(prefix) || typeof parameter.Value !== 'string') continue;
          const component = parameter.Name.slice(prefix.length);
          raw.set(component, parameter.Value);
          if (parameter.Type === 'SecureString') secure.add(component);
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return { raw, secure, loadedAt: this.#now() };
    });
  }

  /** The values of SecureString components, decrypted, read by name; a deleted one is left out. */
  #secureFromSsm(components: string[]): Promise<Map<string, string>> {
    return this.#throttled('GetParameters', async () => {
      const values = new Map<string, string>();
      for (let i = 0; i < components.length; i += 10) {
        const names = components.slice(i, i + 10).map((component) => this.parameterName(component));
        const { Parameters } = await this.#client.send(
          new GetParametersCommand({ Names: names, WithDecryption: true }),
        );
        for (const parameter of Parameters ?? []) {
          if (parameter.Name && typeof parameter.Value === 'string') {
            values.set(parameter.Name.slice(this.path.length + 1), parameter.Value);
          }
        }
      }
      return values;
    });
  }

  /**
   * Runs an SSM read, again after a jittered backoff each time SSM throttles it, up to the retries; then the
   * throttling is a retryable config error that says how long it was tried.
   */
  async #throttled<T>(operation: string, read: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const { retries, backoff } = this.#throttleRetry;
    for (let attempt = 0; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        const cause = classifyError(error, 'ssm');
        if (cause.type !== 'throttled') throw this.#failure(cause, error);
        if (attempt >= retries) {
          const ms = Math.round(performance.now() - started);
          recordMetric('configThrottled', 1, { component: CONFIG_COMPONENT });
          throw this.#failure(
            cause,
            error,
            `SSM throttled ${operation} (${cause.code ?? 'throttled'}) on ${attempt + 1} tries over ${ms} ms, each with the SDK's own retries; retry later`,
          );
        }
        await sleep(backoffDelay(attempt, backoff));
      }
    }
  }

  /** Why the service's own tuning (the `config` component) in SSM is not in use, while it is not. */
  get tuningProblem(): string | undefined {
    return this.#tuningProblem;
  }

  /** Applies the service's own config tuning; a bad or deleted value keeps the tuning in force, and says so. */
  #tune(raw: string | undefined): void {
    const parameterName = this.parameterName(CONFIG_COMPONENT);
    let problem: string | undefined;
    let fromSsm: unknown = {};
    if (raw === undefined) {
      if (this.#tuningFromParameter) problem = `${parameterName} was deleted`;
    } else {
      try {
        fromSsm = JSON.parse(raw);
      } catch (error) {
        problem = `${parameterName} is not valid JSON: ${(error as Error).message}`;
      }
    }
    if (!problem) {
      const { merged, overrides } = layerConfig(
        CONFIG_COMPONENT,
        configTuningSchema,
        configTuningDefaults,
        fromSsm,
        this.environment,
      );
      const parsed = configTuningSchema.safeParse(merged);
      if (parsed.success) {
        this.#tuning = parsed.data;
        this.#tuningProblem = undefined;
        this.#tuningFromParameter = raw !== undefined;
        return;
      }
      const fields = fieldErrors(parsed.error.issues, { parameterName, ssm: fromSsm, overrides });
      problem = `invalid config for component "${CONFIG_COMPONENT}" (${parameterName}): ${fields
        .map((f) => `${f.path}: ${f.message} [rule: ${f.rule}]`)
        .join('; ')}`;
    }
    this.#tuningProblem = `${problem}; keeping the tuning in force (ttl ${this.#tuning.ttlSeconds}s)`;
    logger.warn('invalid config tuning; keeping the tuning in force', { parameter: parameterName, problem });
    recordMetric('configRefreshFailed', 1, { component: CONFIG_COMPONENT });
  }
}

/** The form a load takes in the cache: SecureStrings by name only. */
function toShared(loaded: Loaded): SharedConfig {
  // No prototype: a component may be named __proto__.
  const values: Record<string, string> = Object.create(null);
  for (const [component, value] of loaded.raw) {
    if (!loaded.secure.has(component)) values[component] = value;
  }
  return { v: SHARED_FORMAT, loadedAt: loaded.loadedAt, values, secure: [...loaded.secure] };
}

const sources = new Map<string, ConfigSource>();

/** The container's one source per env and service, made on first use. */
export function sharedConfigSource(env?: string, service?: string): ConfigSource {
  const resolvedEnv = env ?? readBinding('env');
  const resolvedService = service ?? readBinding('service');
  const key = `${resolvedEnv}/${resolvedService}`;
  let source = sources.get(key);
  if (!source) {
    source = new ConfigSource({ env: resolvedEnv, service: resolvedService });
    sources.set(key, source);
  }
  return source;
}

/** Every source this container has made, for the health check. */
export function sharedConfigSources(): ConfigSource[] {
  return [...sources.values()];
}
