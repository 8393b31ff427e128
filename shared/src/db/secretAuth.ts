import { classifyError, InfraError } from '../errors/index.ts';

/** What reads a secret: `SecretsManagerClient` of `@aws-sdk/client-secrets-manager`, or a test's stand-in. */
export interface SecretReader {
  getSecretString(secretId: string): Promise<string>;
}

async function defaultReader(): Promise<SecretReader> {
  // Loaded only with secret authentication, which only the migration function uses.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  return {
    async getSecretString(secretId) {
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      return SecretString ?? '';
    },
  };
}

/**
 * The `password` of a pg pool, read from a Secrets Manager secret in RDS's JSON form (`{"password": …}`) when
 * a connection is made, so a rotated password is picked up by the next connection.
 */
export function secretPassword(secretId: string, reader?: SecretReader): () => Promise<string> {
  let client: Promise<SecretReader> | undefined;
  return async () => {
    let text: string;
    try {
      client ??= reader ? Promise.resolve(reader) : defaultReader();
      text = await (await client).getSecretString(secretId);
    } catch (error) {
      client = undefined;
      throw classifyError(error, 'db');
    }
    let password: unknown;
    try {
      password = (JSON.parse(text) as { password?: unknown }).password;
    } catch {
      password = undefined;
    }
    if (typeof password !== 'string' || password === '') {
      throw new InfraError(`secret ${secretId} has no "password" field: expected RDS's JSON form`, {
        type: 'config',
        component: 'db',
      });
    }
    return password;
  };
}
