import { InfraError } from '../errors/index.ts';

interface Binding {
  /** The environment variable that carries it. */
  readonly variable: string;
  readonly description: string;
  /** Variables read, in order, when `variable` is unset. */
  readonly fallbacks?: readonly string[];
}

/**
 * Resource coordinates reach a function as environment variables. This is their one definition: the CDK app
 * sets them from it, and the library reads them through it.
 */
export const bindings = {
  env: {
    variable: 'LAMBDA_INFRA_ENV',
    description: 'deployment environment, the {env} of /config/{env}/{service}/{component}',
  },
  service: {
    variable: 'LAMBDA_INFRA_SERVICE',
    fallbacks: ['POWERTOOLS_SERVICE_NAME'],
    description: 'service name, the {service} of /config/{env}/{service}/{component}',
  },
} as const satisfies Record<string, Binding>;

export type BindingName = keyof typeof bindings;

const SEGMENT = /^[a-zA-Z0-9_.-]+$/;

/** The value of a binding, or an error that names the variable to set. */
export function readBinding(name: BindingName, env: NodeJS.ProcessEnv = process.env): string {
  const binding: Binding = bindings[name];
  for (const variable of [binding.variable, ...(binding.fallbacks ?? [])]) {
    const value = env[variable];
    if (value) return value;
  }
  throw new InfraError(`${binding.variable} is not set: it names the ${binding.description}`, {
    type: 'config',
    component: 'config',
  });
}

/** Checks one segment of a parameter path: env, service or component. */
export function checkPathSegment(what: string, value: string): void {
  if (!SEGMENT.test(value)) {
    throw new InfraError(
      `${what} "${value}" is not a valid parameter path segment: use only letters, digits, '.', '-' and '_'`,
      { type: 'validation', component: 'config' },
    );
  }
}

export function parameterPath(env: string, service: string): string {
  checkPathSegment('env', env);
  checkPathSegment('service', service);
  return `/config/${env}/${service}`;
}
