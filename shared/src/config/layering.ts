import type { z } from 'zod';
import type { FieldError } from '../errors/index.ts';

export type Plain = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Objects merge key by key; anything else, arrays included, is replaced by the later layer. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    // Defined, not assigned: a key named __proto__ (JSON.parse makes it an own property) stays plain data instead
    // of setting the merged object's prototype, and reads nothing from the base's.
    Object.defineProperty(out, key, {
      value: deepMerge(Object.hasOwn(base, key) ? base[key] : undefined, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  const ka = Object.keys(a as Plain);
  const kb = Object.keys(b as Plain);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Plain)[k], (b as Plain)[k]));
}

/** `defaultTtl` -> `DEFAULT_TTL`, `pool.max` -> `POOL`, `MAX` per segment. */
export function toEnvSegment(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9]+/g, '_')
    .toUpperCase();
}

function toCamel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

export const OVERRIDE_PREFIX = 'CONFIG__';

export function overridePrefix(component: string): string {
  return `${OVERRIDE_PREFIX}${toEnvSegment(component)}__`;
}

/** Keys a zod object schema declares at the top level; used to spell override names back into fields. */
function schemaKeys(schema: z.ZodType | undefined): string[] {
  const shape = (schema as { shape?: Plain } | undefined)?.shape;
  return isPlainObject(shape) ? Object.keys(shape) : [];
}

function parseOverride(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export interface Overrides {
  value: Plain;
  /** Field path (dot-joined) -> the variable that set it. */
  sources: Map<string, string>;
}

/**
 * Environment overrides of one component: `CONFIG__<COMPONENT>__<FIELD>[__<FIELD>…]`, each segment in upper
 * snake case (`CONFIG__CACHE__DEFAULT_TTL=30`). A value that parses as JSON is taken as JSON, otherwise as text.
 */
export function readOverrides(
  component: string,
  known: unknown,
  schema: z.ZodType | undefined,
  env: NodeJS.ProcessEnv,
): Overrides {
  const prefix = overridePrefix(component);
  const value: Plain = {};
  const sources = new Map<string, string>();
  for (const [variable, raw] of Object.entries(env)) {
    if (!variable.startsWith(prefix) || raw === undefined) continue;
    const segments = variable.slice(prefix.length).split('__').filter(Boolean);
    if (segments.length === 0) continue;
    let target = value;
    let level: unknown = known;
    const path: string[] = [];
    segments.forEach((segment, index) => {
      const candidates = [
        ...(isPlainObject(level) ? Object.keys(level) : []),
        ...(index === 0 ? schemaKeys(schema) : []),
      ];
      const key = candidates.find((k) => toEnvSegment(k) === segment) ?? toCamel(segment);
      path.push(key);
      if (index === segments.length - 1) {
        target[key] = parseOverride(raw);
      } else {
        target[key] = isPlainObject(target[key]) ? target[key] : {};
        target = target[key] as Plain;
        level = isPlainObject(level) ? level[key] : undefined;
      }
    });
    sources.set(path.join('.'), variable);
  }
  return { value, sources };
}

/**
 * One component's value before validation: `defaults` < the SSM value < environment overrides. The overrides
 * are returned too, so that errors can say which variable set a field.
 */
export function layerConfig(
  component: string,
  schema: z.ZodType | undefined,
  defaults: unknown,
  fromSsm: unknown,
  env: NodeJS.ProcessEnv,
): { merged: unknown; overrides: Overrides } {
  const stored = deepMerge(defaults ?? {}, fromSsm);
  const overrides = readOverrides(component, stored, schema, env);
  return { merged: deepMerge(stored, overrides.value), overrides };
}

/**
 * Whether a layer set the value at `path`: it holds the whole path, or an array or a plain value on the way
 * down (those replace what is under them whole, so everything inside came from this layer).
 */
function setsPath(layer: unknown, path: (string | number)[]): boolean {
  if (layer === undefined) return false;
  let level: unknown = layer;
  for (const key of path) {
    if (!isPlainObject(level)) return true;
    if (!(String(key) in level)) return false;
    level = level[String(key)];
  }
  return true;
}

/** Where the value at a field path came from: an override variable, the SSM parameter, or the defaults. */
export function provenance(
  path: (string | number)[],
  layers: { parameterName: string; ssm: unknown; overrides: Overrides },
): string {
  for (let n = path.length; n > 0; n--) {
    const variable = layers.overrides.sources.get(path.slice(0, n).join('.'));
    if (variable) return `environment variable ${variable}`;
  }
  if (setsPath(layers.ssm, path)) return `SSM parameter ${layers.parameterName}`;
  return 'defaults';
}

/** zod issues as field errors: the field, what is wrong, the rule, and where the value came from. */
export function fieldErrors(
  issues: readonly z.core.$ZodIssue[],
  layers: { parameterName: string; ssm: unknown; overrides: Overrides },
): FieldError[] {
  return issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    return {
      path: path.join('.') || '(root)',
      message: `${issue.message} (from ${provenance(path, layers)})`,
      rule: issue.code,
    };
  });
}
