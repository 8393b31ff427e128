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
  cacheUrl: {
    variable: 'LAMBDA_INFRA_CACHE_URL',
    description: 'cache endpoint, redis://host:port or rediss://host:port (TLS)',
  },
  cacheMode: {
    variable: 'LAMBDA_INFRA_CACHE_MODE',
    description: 'cache topology: standalone, cluster, or serverless (ElastiCache Serverless: cluster mode)',
  },
  cacheAuth: {
    variable: 'LAMBDA_INFRA_CACHE_AUTH',
    description: 'cache authentication: none or iam',
  },
  cacheUser: {
    variable: 'LAMBDA_INFRA_CACHE_USER',
    description: 'ElastiCache user id for IAM authentication',
  },
  cacheName: {
    variable: 'LAMBDA_INFRA_CACHE_NAME',
    description:
      'ElastiCache cache name (replication group or serverless cache) that IAM tokens are signed for',
  },
  queueUrl: {
    variable: 'LAMBDA_INFRA_QUEUE_URL',
    description: 'URL of the queue the function publishes to',
  },
  deadLetterQueueUrl: {
    variable: 'LAMBDA_INFRA_DLQ_URL',
    description: "URL of that queue's dead-letter queue, whose depth the function reports in its health",
  },
  dbHost: {
    variable: 'LAMBDA_INFRA_DB_HOST',
    description: 'database host: the RDS Proxy endpoint, or a PostgreSQL host',
  },
  dbPort: {
    variable: 'LAMBDA_INFRA_DB_PORT',
    description: 'database port; 5432 when unset',
  },
  dbName: {
    variable: 'LAMBDA_INFRA_DB_NAME',
    description: 'database name',
  },
  dbUser: {
    variable: 'LAMBDA_INFRA_DB_USER',
    description: 'database user; with IAM authentication, the user the token is signed for',
  },
  dbAuth: {
    variable: 'LAMBDA_INFRA_DB_AUTH',
    description:
      'database authentication: iam (RDS Proxy token, needs TLS), secret (Secrets Manager, needs TLS), password (PGPASSWORD) or none',
  },
  dbSecretArn: {
    variable: 'LAMBDA_INFRA_DB_SECRET_ARN',
    description: 'with secret authentication: the Secrets Manager secret that holds the password',
  },
  dbAppUser: {
    variable: 'LAMBDA_INFRA_DB_APP_USER',
    description:
      'the user the functions connect as; the migration function creates it and grants it the tables',
  },
  dbTls: {
    variable: 'LAMBDA_INFRA_DB_TLS',
    description: 'database TLS: require (certificate verified) or disable',
  },
} as const satisfies Record<string, Binding>;

export type BindingName = keyof typeof bindings;

const SEGMENT = /^[a-zA-Z0-9_.-]+$/;

/** The value of a binding, or an error that names the variable to set. */
export function readBinding(name: BindingName, env: NodeJS.ProcessEnv = process.env): string {
  const value = readOptionalBinding(name, env);
  if (value) return value;
  const binding: Binding = bindings[name];
  throw new InfraError(`${binding.variable} is not set: it names the ${binding.description}`, {
    type: 'config',
    component: 'config',
  });
}

/** The value of a binding that may be absent. */
export function readOptionalBinding(
  name: BindingName,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const binding: Binding = bindings[name];
  for (const variable of [binding.variable, ...(binding.fallbacks ?? [])]) {
    const value = env[variable];
    if (value) return value;
  }
  return undefined;
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
