import { classifyError } from '../errors/index.ts';

/** What makes an RDS IAM token: `Signer` of `@aws-sdk/rds-signer`, or a test's stand-in. */
export interface AuthTokenSigner {
  getAuthToken(): Promise<string>;
}

/** RDS IAM tokens are valid for 15 minutes. */
export const RDS_TOKEN_LIFETIME_MS = 15 * 60_000;

export interface IamPasswordOptions {
  hostname: string;
  port: number;
  username: string;
  region: string;
  /** Default: `new Signer(…)` of `@aws-sdk/rds-signer`, with the SDK's default credentials (the function's role). */
  signer?: AuthTokenSigner;
  /**
   * A token older than this is not used for a new connection; default 10 minutes, which leaves a slow
   * connection attempt 5 minutes before the token's own expiry.
   */
  maxAgeMs?: number;
  /** Clock in milliseconds; injected by tests. */
  now?: () => number;
}

async function defaultSigner(options: IamPasswordOptions): Promise<AuthTokenSigner> {
  // Loaded only with IAM authentication, so that a function using passwords needs no signer.
  const { Signer } = await import('@aws-sdk/rds-signer');
  return new Signer({
    hostname: options.hostname,
    port: options.port,
    username: options.username,
    region: options.region,
  });
}

/**
 * The `password` of a pg pool that authenticates with RDS IAM tokens: pg asks for it on each new connection,
 * and gets a cached token while it is younger than `maxAgeMs`, a fresh one after. Concurrent connections share
 * one signing.
 */
export function iamPassword(options: IamPasswordOptions): () => Promise<string> {
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  if (!(maxAgeMs > 0 && maxAgeMs < RDS_TOKEN_LIFETIME_MS)) {
    throw new RangeError(
      `maxAgeMs must be more than 0 and less than the token's 15 minutes, got ${maxAgeMs}`,
    );
  }
  const now = options.now ?? Date.now;
  let signer: Promise<AuthTokenSigner> | undefined;
  let token: { value: string; madeAt: number } | undefined;
  let signing: Promise<string> | undefined;

  return () => {
    if (token && now() - token.madeAt < maxAgeMs) return Promise.resolve(token.value);
    signing ??= (async () => {
      try {
        signer ??= options.signer ? Promise.resolve(options.signer) : defaultSigner(options);
        const madeAt = now();
        const value = await (await signer).getAuthToken();
        token = { value, madeAt };
        return value;
      } catch (error) {
        signer = undefined;
        throw classifyError(error, 'db');
      } finally {
        signing = undefined;
      }
    })();
    return signing;
  };
}
