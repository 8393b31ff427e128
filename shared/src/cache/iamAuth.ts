import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { RedisClientOptions } from '@redis/client';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { classifyError } from '../errors/index.ts';
import { logger } from '../observability/logger.ts';

/** node-redis's streaming credentials provider, which the package root does not export by name. */
export type StreamingCredentialsProvider = Extract<
  NonNullable<RedisClientOptions['credentialsProvider']>,
  { type: 'streaming-credentials-provider' }
>;
type Listener = Parameters<StreamingCredentialsProvider['subscribe']>[0];

/** ElastiCache IAM tokens are valid for 15 minutes. */
export const TOKEN_LIFETIME_SECONDS = 900;

export interface IamAuthOptions {
  /** The ElastiCache user id (IAM-enabled user); also the username of AUTH. */
  userId: string;
  /** The cache's name (replication group id or serverless cache name), which the token is signed for. */
  cacheName: string;
  region: string;
  /** True for ElastiCache Serverless, which the token names as its resource type. */
  serverless?: boolean;
  /** Default: the SDK's default chain (in Lambda, the function's role). */
  credentials?: AwsCredentialIdentityProvider;
  /** Clock; injected by tests. */
  now?: () => Date;
  /** A new token is made this long before the current one expires. Default 3 minutes. */
  refreshBeforeSeconds?: number;
  /** Timer functions; injected by tests. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** SHA-256 for the SDK's signer, from node:crypto. */
export class NodeSha256 implements Checksum {
  readonly #hash;
  constructor(secret?: SourceData) {
    this.#hash = secret ? createHmac('sha256', toBuffer(secret)) : createHash('sha256');
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
  reset(): void {
    throw new Error('not resettable');
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

const uriEscape = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The IAM auth token for one ElastiCache user: a SigV4-presigned `connect` request for the cache, made with
 * the SDK's own signer and valid for 15 minutes from `at`. It is the password of `AUTH {userId} {token}`.
 */
export async function createIamAuthToken(
  options: Pick<IamAuthOptions, 'userId' | 'cacheName' | 'region' | 'serverless' | 'credentials'>,
  at: Date,
): Promise<string> {
  const signer = new SignatureV4({
    service: 'elasticache',
    region: options.region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: NodeSha256,
  });
  const query: Record<string, string> = { Action: 'connect', User: options.userId };
  if (options.serverless) query.ResourceType = 'ServerlessCache';
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'http:',
      hostname: options.cacheName,
      path: '/',
      query,
      headers: { host: options.cacheName },
    },
    { expiresIn: TOKEN_LIFETIME_SECONDS, signingDate: at },
  );
  const search = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${uriEscape(k)}=${uriEscape(String(v))}`)
    .join('&');
  return `${options.cacheName}/?${search}`;
}

/**
 * Credentials for node-redis that stay valid: a token made on subscribe, and a fresh one pushed to every
 * connection before the current one expires, which node-redis sends as AUTH on the open connection, so
 * in-flight commands are not dropped. Reconnections subscribe again and get a token with time left.
 */
export function iamCredentialsProvider(options: IamAuthOptions): StreamingCredentialsProvider {
  const now = options.now ?? (() => new Date());
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  const clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
  const refreshBeforeMs = (options.refreshBeforeSeconds ?? 180) * 1_000;
  const listeners = new Set<Listener>();
  let current: { token: string; expiresAt: number } | undefined;
  let timer: unknown;

  const issue = async () => {
    const at = now();
    const token = await createIamAuthToken(options, at);
    current = { token, expiresAt: at.getTime() + TOKEN_LIFETIME_SECONDS * 1_000 };
    return current;
  };

  const schedule = () => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
    if (!current || listeners.size === 0) return;
    const delay = Math.max(0, current.expiresAt - refreshBeforeMs - now().getTime());
    timer = setTimer(() => void refresh(), delay);
  };

  const refresh = async () => {
    timer = undefined;
    try {
      const { token } = await issue();
      for (const listener of listeners) listener.onNext({ username: options.userId, password: token });
    } catch (error) {
      const infra = classifyError(error, 'cache');
      logger.error('could not make a new ElastiCache IAM token', { error: infra.toJSON() });
      for (const listener of listeners) listener.onError(infra);
    }
    schedule();
  };

  return {
    type: 'streaming-credentials-provider',
    async subscribe(listener) {
      const fresh =
        current && current.expiresAt - refreshBeforeMs > now().getTime() ? current : await issue();
      listeners.add(listener);
      schedule();
      const disposable = {
        dispose: () => {
          listeners.delete(listener);
          if (listeners.size === 0 && timer !== undefined) {
            clearTimer(timer);
            timer = undefined;
          }
        },
      };
      return [{ username: options.userId, password: fresh.token }, disposable];
    },
    onReAuthenticationError(error) {
      logger.error('re-authentication to the cache failed', { error: error.message });
    },
  };
}
