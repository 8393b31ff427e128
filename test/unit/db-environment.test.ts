import {
  dbConfigDefaults,
  dbConfigSchema,
  dbOptionsFromEnvironment,
  dbOptionsFromUrl,
  secretPassword,
} from '@lambda-infra/shared/db';
import { describe, expect, it } from 'vitest';

const proxy = {
  LAMBDA_INFRA_DB_HOST: 'events.proxy-abc.eu-west-1.rds.amazonaws.com',
  LAMBDA_INFRA_DB_NAME: 'events',
  LAMBDA_INFRA_DB_USER: 'events_app',
  AWS_REGION: 'eu-west-1',
};

describe('db options from the bindings and config', () => {
  it('reads RDS Proxy with IAM: TLS, a token for the region, the tunables from config', () => {
    const options = dbOptionsFromEnvironment(
      { ...dbConfigDefaults, poolMax: 3 },
      { ...proxy, LAMBDA_INFRA_DB_AUTH: 'iam', LAMBDA_INFRA_DB_TLS: 'require' },
    );
    expect(options).toMatchObject({
      host: proxy.LAMBDA_INFRA_DB_HOST,
      port: 5432,
      database: 'events',
      user: 'events_app',
      auth: { type: 'iam', region: 'eu-west-1' },
      tls: true,
      poolMax: 3,
      statementTimeoutMs: 10_000,
    });
  });

  it.each([
    [{ LAMBDA_INFRA_DB_AUTH: 'iam' }, 'IAM authentication needs TLS: set LAMBDA_INFRA_DB_TLS=require'],
    [
      { LAMBDA_INFRA_DB_AUTH: 'kerberos' },
      'LAMBDA_INFRA_DB_AUTH is "kerberos": it must be one of iam, secret, password, none',
    ],
    [
      { LAMBDA_INFRA_DB_TLS: 'prefer' },
      'LAMBDA_INFRA_DB_TLS is "prefer": it must be one of require, disable',
    ],
    [{ LAMBDA_INFRA_DB_PORT: '70000' }, 'LAMBDA_INFRA_DB_PORT is "70000": it must be a port number, 1-65535'],
    [{ LAMBDA_INFRA_DB_AUTH: 'password' }, 'LAMBDA_INFRA_DB_AUTH is password but PGPASSWORD is not set'],
    [{ LAMBDA_INFRA_DB_HOST: '' }, 'LAMBDA_INFRA_DB_HOST is not set: it names the database host'],
  ])('refuses %j, naming the variable and the rule', (override, message) => {
    expect(() => dbOptionsFromEnvironment(dbConfigDefaults, { ...proxy, ...override })).toThrow(message);
  });

  it('config: the schema names the field and rule of a bad tunable', () => {
    const result = dbConfigSchema.safeParse({ ...dbConfigDefaults, poolMax: 0 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ['poolMax'], code: 'too_small' });
  });
});

describe('db options from a URL', () => {
  it('reads user, password, host, port, database and sslmode', () => {
    expect(dbOptionsFromUrl('postgres://app:p%40ss@db.local:6543/events?sslmode=verify-full')).toMatchObject({
      host: 'db.local',
      port: 6543,
      database: 'events',
      user: 'app',
      auth: { type: 'password', password: 'p@ss' },
      tls: true,
    });
    expect(dbOptionsFromUrl('postgresql://[::1]/test')).toMatchObject({
      host: '::1',
      port: 5432,
      user: 'postgres',
      auth: { type: 'none' },
      tls: false,
    });
  });

  it.each([
    ['mysql://db/x', 'the database URL must start with postgres://, not mysql://'],
    ['postgres://db', 'the database URL must name a host and a database'],
    [
      'postgres://db/x?sslmode=prefer',
      'sslmode "prefer" is not supported: use disable, require, verify-ca or verify-full',
    ],
    ['not a url', 'the database URL is not a URL: expected postgres://user@host:port/database'],
  ])('refuses %s', (url, message) => {
    expect(() => dbOptionsFromUrl(url)).toThrow(message);
  });
});

describe('the password of a Secrets Manager secret', () => {
  it('reads the password field of the RDS secret on each new connection', async () => {
    const reads: string[] = [];
    const password = secretPassword('arn:secret', {
      getSecretString: async (id) => {
        reads.push(id);
        return JSON.stringify({ username: 'postgres', password: `p${reads.length}` });
      },
    });
    expect([await password(), await password()]).toEqual(['p1', 'p2']);
    expect(reads).toEqual(['arn:secret', 'arn:secret']);
  });

  it('names the secret when it holds no password, and classifies a failed read', async () => {
    await expect(secretPassword('arn:s', { getSecretString: async () => '{"user":"x"}' })()).rejects.toThrow(
      'secret arn:s has no "password" field',
    );
    const denied = Object.assign(new Error('not allowed'), { name: 'AccessDeniedException', $metadata: {} });
    await expect(
      secretPassword('arn:s', {
        getSecretString: async () => {
          throw denied;
        },
      })(),
    ).rejects.toMatchObject({ type: 'config', component: 'db', code: 'AccessDeniedException' });
  });

  it('reads LAMBDA_INFRA_DB_AUTH=secret with its secret, and refuses it without TLS', () => {
    const env = {
      ...proxy,
      LAMBDA_INFRA_DB_AUTH: 'secret',
      LAMBDA_INFRA_DB_SECRET_ARN: 'arn:aws:secretsmanager:x',
    };
    expect(
      dbOptionsFromEnvironment(dbConfigDefaults, { ...env, LAMBDA_INFRA_DB_TLS: 'require' }).auth,
    ).toEqual({
      type: 'secret',
      secretId: 'arn:aws:secretsmanager:x',
    });
    expect(() => dbOptionsFromEnvironment(dbConfigDefaults, env)).toThrow(
      'secret authentication needs TLS: set LAMBDA_INFRA_DB_TLS=require',
    );
  });
});
