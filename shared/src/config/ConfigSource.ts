import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { classifyError, type FieldError, InfraError } from '../errors/index.ts';
import { recordMetric } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { parameterPath, readBinding } from './bindings.ts';
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
  readonly loadedAt: number;
  readonly version: number;
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
  readonly #provider: SSMProvider;
  readonly #now: () => number;
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
    const client =
      options.client ??
      new SSMClient({
        // Without throwOnRequestTimeout the SDK only warns when the timeout passes, and a hung SSM hangs the function.
        requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
        maxAttempts: 3,
      });
    this.#provider = new SSMProvider({ awsSdkV3Client: client });
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
      const values = await this.#provider.getMultiple(this.path, {
        forceFetch: true,
        decrypt: true,
        recursive: false,
        sdkOptions: { MaxResults: 10 },
      });
      const raw = new Map<string, string>();
      for (const [name, value] of Object.entries(values ?? {})) {
        if (typeof value === 'string') raw.set(name, value);
      }
      const snapshot: Snapshot = { raw, loadedAt: this.#now(), version: ++this.#version };
      this.#snapshot = snapshot;
      this.#lastFailure = undefined;
      this.#tune(raw.get(CONFIG_COMPONENT));
      this.#nextLoadAt = snapshot.loadedAt + this.#tuning.ttlSeconds * 1_000;
      return snapshot;
    } catch (error) {
      const cause = classifyError(error, 'ssm');
      const failure = new InfraError(`could not load config from SSM path ${this.path}: ${cause.message}`, {
        type: cause.type === 'internal' ? 'config' : cause.type,
        component: 'config',
        retryable: cause.retryable,
        cause: error,
        ...(cause.code ? { code: cause.code } : {}),
      });
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
