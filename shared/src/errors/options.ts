import { InfraError } from './InfraError.ts';

/** `options` laid over `defaults`, key by key; an option given as `undefined` keeps its default. */
export function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged as D & O;
}

/** The one way to refuse a bad option: a `config` InfraError that names the component, the option and the rule. */
export function invalidOption(component: string, option: string, rule: string): InfraError {
  return new InfraError(`${component} option ${option} ${rule}`, {
    type: 'config',
    component,
    code: 'INVALID_OPTION',
    fields: [{ path: option, message: rule, rule: 'option' }],
  });
}

/** What the check needs of a zod schema, so that this module loads no zod. */
interface Schema {
  safeParse(
    value: unknown,
  ): { success: true } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/**
 * Checks a module's options against its config schema (the same rules as its SSM component), and throws
 * `invalidOption` for the first that breaks one: `db option poolMax is invalid: Too small: expected number to be >=1`.
 */
export function checkOptions(component: string, schema: Schema, options: object): void {
  const result = schema.safeParse(options);
  if (result.success) return;
  const [issue] = result.error.issues;
  throw invalidOption(
    component,
    issue!.path.map(String).join('.') || '(options)',
    `is invalid: ${issue!.message}`,
  );
}
