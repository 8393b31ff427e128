import { z } from 'zod';
import { bindings, readBinding, readOptionalBinding } from '../config/bindings.ts';
import { InfraError } from '../errors/index.ts';
import type { DbAuth, DbOptions } from './createDb.ts';

/** The database's tunables, from `/config/{env}/{service}/db`: `defineConfig({ component: 'db', … })`. */
export const dbConfigSchema = z.object({
  poolMax: z.number().int().min(1).max(100),
  idleTimeoutMs: z.number().int().min(0).max(3_600_000),
  connectTimeoutMs: z.number().int().min(100).max(60_000),
  statementTimeoutMs: z.number().int().min(0).max(900_000),
  slowQueryMs: z.number().int().min(0),
  transactionRetries: z.number().int().min(0).max(10),
});
export type DbConfig = z.infer<typeof dbConfigSchema>;

export const dbConfigDefaults: DbConfig = {
  poolMax: 2,
  idleTimeoutMs: 60_000,
  connectTimeoutMs: 3_000,
  statementTimeoutMs: 10_000,
  slowQueryMs: 500,
  transactionRetries: 3,
};

function fail(message: string): never {
  throw new InfraError(message, { type: 'config', component: 'db' });
}

/**
 * Db options from the bindings (endpoint, database, user, authentication and TLS, set by the CDK app) and the
 * database's tunables (from SSM config).
 */
export function dbOptionsFromEnvironment(
  config: DbConfig = dbConfigDefaults,
  env: NodeJS.ProcessEnv = process.env,
): DbOptions {
  const rawPort = readOptionalBinding('dbPort', env);
  const port = rawPort === undefined ? 5432 : Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    fail(`${bindings.dbPort.variable} is "${rawPort}": it must be a port number, 1-65535`);
  }
  const tls = readOptionalBinding('dbTls', env) ?? 'disable';
  if (tls !== 'require' && tls !== 'disable') {
    fail(`${bindings.dbTls.variable} is "${tls}": it must be one of require, disable`);
  }
  const authType = readOptionalBinding('dbAuth', env) ?? 'none';
  let auth: DbAuth;
  if (authType === 'iam') {
    if (tls !== 'require') {
      fail(`IAM authentication needs TLS: set ${bindings.dbTls.variable}=require`);
    }
    const region = env.AWS_REGION ?? fail('AWS_REGION is not set: IAM tokens are signed for a region');
    auth = { type: 'iam', region };
  } else if (authType === 'secret') {
    if (tls !== 'require') fail(`secret authentication needs TLS: set ${bindings.dbTls.variable}=require`);
    auth = { type: 'secret', secretId: readBinding('dbSecretArn', env) };
  } else if (authType === 'password') {
    const password =
      env.PGPASSWORD ?? fail(`${bindings.dbAuth.variable} is password but PGPASSWORD is not set`);
    auth = { type: 'password', password };
  } else if (authType === 'none') {
    auth = { type: 'none' };
  } else {
    fail(`${bindings.dbAuth.variable} is "${authType}": it must be one of iam, secret, password, none`);
  }
  return {
    host: readBinding('dbHost', env),
    port,
    database: readBinding('dbName', env),
    user: readBinding('dbUser', env),
    auth,
    tls: tls === 'require',
    ...config,
  };
}

/**
 * Db options from a `postgres://user:password@host:port/database?sslmode=require` URL, for tools run outside
 * Lambda (`lambda-infra db migrate --url`). `sslmode` require, verify-ca and verify-full all verify the
 * certificate.
 */
export function dbOptionsFromUrl(url: string, config: DbConfig = dbConfigDefaults): DbOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail('the database URL is not a URL: expected postgres://user@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    fail(`the database URL must start with postgres://, not ${parsed.protocol}//`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname || !database) fail('the database URL must name a host and a database');
  const sslmode = parsed.searchParams.get('sslmode') ?? 'disable';
  if (!['disable', 'require', 'verify-ca', 'verify-full'].includes(sslmode)) {
    fail(`sslmode "${sslmode}" is not supported: use disable, require, verify-ca or verify-full`);
  }
  return {
    host: decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, '')),
    port: parsed.port ? Number(parsed.port) : 5432,
    database,
    user: decodeURIComponent(parsed.username) || 'postgres',
    auth: parsed.password
      ? { type: 'password', password: decodeURIComponent(parsed.password) }
      : { type: 'none' },
    tls: sslmode !== 'disable',
    ...config,
  };
}
