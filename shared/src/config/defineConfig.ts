import type { z } from 'zod';
import { type FieldError, InfraError } from '../errors/index.ts';
import { recordMetric } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import { checkPathSegment } from './bindings.ts';
import {
  type ComponentStatus,
  type ConfigSource,
  type Snapshot,
  sharedConfigSource,
} from './ConfigSource.ts';
import { deepEqual, fieldErrors, layerConfig } from './layering.ts';

type DeepPartial<T> = T extends (infer U)[]
  ? U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export interface DefineConfigOptions<S extends z.ZodType> {
  /** The component's name, the last segment of `/config/{env}/{service}/{component}`. */
  component: string;
  schema: S;
  /** Used where SSM has no value; SSM values, then environment overrides, are laid over them. */
  defaults?: DeepPartial<z.input<S>>;
  /** Default: the container's shared source for LAMBDA_INFRA_ENV and LAMBDA_INFRA_SERVICE. */
  source?: ConfigSource;
}

export type ChangeListener<T> = (next: T, previous: T) => void;

export interface Config<T> {
  readonly component: string;
  /** What a value of the component must be: `lambda-infra config` checks the folder's files against it. */
  readonly schema: z.ZodType<T>;
  /** What stands in where SSM has no value. */
  readonly defaults: unknown;
  /** The validated config; makes no SSM call while the service's config is within its TTL. */
  get(): Promise<T>;
  /**
   * What `get()` would give at once, without waiting: the value while the service's config is within its TTL
   * and this component has taken its newest load; `undefined` when `get()` has work to do.
   */
  peek?(): T | undefined;
  /** Called with the new and the old value when a refresh changes this component. Returns an unsubscribe. */
  onChange(listener: ChangeListener<T>): () => void;
  /** The source it reads, once the first `get()` has resolved it. */
  readonly source: ConfigSource | undefined;
}

function describe(fields: FieldError[]): string {
  return fields.map((f) => `${f.path}: ${f.message}${f.rule ? ` [rule: ${f.rule}]` : ''}`).join('; ');
}

/**
 * Typed config for one component from `/config/{env}/{service}/{component}` (one JSON parameter, String or
 * SecureString): defaults < SSM < environment overrides, validated by the schema.
 */
export function defineConfig<S extends z.ZodType>(options: DefineConfigOptions<S>): Config<z.output<S>> {
  type T = z.output<S>;
  const { component, schema } = options;
  checkPathSegment('component', component);

  let source = options.source;
  let status: ComponentStatus | undefined;
  let value: T | undefined;
  let seenVersion = -1;
  const listeners = new Set<ChangeListener<T>>();

  /** Whether the value in use came from an SSM parameter, so that its disappearance is noticed. */
  let fromParameter = false;

  const invalid = (parameterName: string, fields: FieldError[]) =>
    new InfraError(`invalid config for component "${component}" (${parameterName}): ${describe(fields)}`, {
      type: 'config',
      component: 'config',
      // The value lives in SSM and is read again after the TTL: fixed there, a retry succeeds.
      retryable: true,
      fields,
    });

  const derive = (snapshot: Snapshot): T => {
    const parameterName = source!.parameterName(component);
    const raw = snapshot.raw.get(component);
    if (raw === undefined && fromParameter && value !== undefined) {
      throw invalid(parameterName, [
        {
          path: '(root)',
          message: `the parameter was deleted (from SSM parameter ${parameterName})`,
          rule: 'deleted',
        },
      ]);
    }
    let fromSsm: unknown;
    let fields: FieldError[] | undefined;
    if (raw !== undefined) {
      try {
        fromSsm = JSON.parse(raw);
      } catch (error) {
        fields = [
          {
            path: '(root)',
            message: `not valid JSON: ${(error as Error).message} (from SSM parameter ${parameterName})`,
            rule: 'json',
          },
        ];
      }
    }
    if (!fields) {
      const { merged, overrides } = layerConfig(
        component,
        schema,
        options.defaults,
        fromSsm,
        source!.environment,
      );
      const parsed = schema.safeParse(merged);
      if (parsed.success) return parsed.data;
      fields = fieldErrors(parsed.error.issues, { parameterName, ssm: fromSsm, overrides });
    }
    throw invalid(parameterName, fields);
  };

  const refresh = (snapshot: Snapshot): T => {
    let next: T;
    try {
      next = derive(snapshot);
    } catch (error) {
      status!.invalid = (error as InfraError).message;
      status!.fields = (error as InfraError).fields;
      // With no good value yet there is nothing to fall back on: the caller gets the error, every time.
      if (value === undefined) throw error;
      seenVersion = snapshot.version;
      logger.warn('invalid config value; keeping the last good config', {
        component,
        error: (error as InfraError).toJSON(),
      });
      recordMetric('configRefreshFailed', 1, { component });
      return value;
    }
    seenVersion = snapshot.version;
    fromParameter = snapshot.raw.has(component);
    status!.invalid = undefined;
    status!.fields = undefined;
    status!.loaded = true;
    const previous = value;
    value = next;
    if (previous !== undefined && !deepEqual(previous, next)) {
      for (const listener of listeners) {
        try {
          listener(next, previous);
        } catch (error) {
          logger.error('config change listener failed', { component, error: error as Error });
        }
      }
    }
    return next;
  };

  /** The value in use while it is the newest and the service's config is within its TTL. */
  const current = (): T | undefined =>
    source && value !== undefined && source.version === seenVersion && source.isFresh() ? value : undefined;

  return {
    component,
    schema: schema as z.ZodType<T>,
    defaults: options.defaults,
    get source() {
      return source;
    },
    peek: current,
    get() {
      const ready = current();
      if (ready !== undefined) return Promise.resolve(ready);
      source ??= sharedConfigSource();
      status ??= source.register(component);
      return source
        .current()
        .then((snapshot) => (snapshot.version === seenVersion ? value! : refresh(snapshot)));
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
