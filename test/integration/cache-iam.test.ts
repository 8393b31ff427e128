import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createIamAuthToken, iamCredentialsProvider } from '@lambda-infra/shared/cache';
import { createClient } from '@redis/client';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';

// The documentation's example key pair, and a fixed time.
const credentials = async () => ({
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
});
const AT = new Date('2026-11-22T10:20:30Z');

/** SigV4 query-string signing written out from the specification, independent of the SDK's signer. */
function specToken(user: string, cache: string, region: string, at: Date, serverless: boolean): string {
  const amzDate = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/elasticache/aws4_request`;
  const params: Record<string, string> = {
    Action: 'connect',
    User: user,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `AKIAIOSFODNN7EXAMPLE/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': '900',
    'X-Amz-SignedHeaders': 'host',
    ...(serverless ? { ResourceType: 'ServerlessCache' } : {}),
  };
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = Object.keys(params)
    .sort()
    .map((k) => `${enc(k)}=${enc(params[k]!)}`)
    .join('&');
  const emptyPayload = createHash('sha256').update('').digest('hex');
  const canonical = ['GET', '/', query, `host:${cache}`, '', 'host', emptyPayload].join('\n');
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const key = hmac(
    hmac(hmac(hmac('AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', day), region), 'elasticache'),
    'aws4_request',
  );
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return `${cache}/?${query}&X-Amz-Signature=${signature}`;
}

function parse(token: string) {
  const [host, search] = token.split('/?') as [string, string];
  return { host, params: Object.fromEntries(new URLSearchParams(search)) };
}

describe('the ElastiCache IAM auth token', () => {
  it('matches SigV4 computed from the specification for fixed credentials and time', async () => {
    const token = await createIamAuthToken(
      { userId: 'orders-app', cacheName: 'orders-cache', region: 'eu-west-1', credentials },
      AT,
    );
    const expected = specToken('orders-app', 'orders-cache', 'eu-west-1', AT, false);

    expect(parse(token)).toEqual(parse(expected));
    expect(parse(token).params).toMatchObject({
      Action: 'connect',
      User: 'orders-app',
      'X-Amz-Date': '20261122T102030Z',
      'X-Amz-Expires': '900',
      'X-Amz-Credential': 'AKIAIOSFODNN7EXAMPLE/20261122/eu-west-1/elasticache/aws4_request',
    });
  });

  it('names the serverless resource type for ElastiCache Serverless, and signs it', async () => {
    const token = await createIamAuthToken(
      { userId: 'u', cacheName: 'orders-serverless', region: 'us-east-1', credentials, serverless: true },
      AT,
    );

    expect(parse(token)).toEqual(parse(specToken('u', 'orders-serverless', 'us-east-1', AT, true)));
    expect(parse(token).params.ResourceType).toBe('ServerlessCache');
  });
});

describe('re-authentication before the token expires (real Redis, clock injected)', () => {
  const url = inject('redisUrl');
  const user = `lambda-infra-test-${process.pid}-${randomUUID().slice(0, 6)}`;
  let admin: ReturnType<typeof createClient>;
  let now: Date;
  let pending: (() => void) | undefined;
  let pendingDelay = -1;

  const options = {
    userId: user,
    cacheName: 'orders-cache',
    region: 'eu-west-1',
    credentials,
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      pending = fn;
      pendingDelay = ms;
      return 1;
    },
    clearTimer: () => {
      pending = undefined;
    },
  };
  const tokenAt = (at: Date) => createIamAuthToken(options, at);
  /** Only these tokens are the user's passwords, as ElastiCache accepts only valid signatures. */
  const allow = (...tokens: string[]) =>
    admin.sendCommand(['ACL', 'SETUSER', user, 'reset', 'on', ...tokens.map((t) => `>${t}`), '~*', '+@all']);

  beforeEach(async () => {
    now = new Date(AT);
    admin = createClient({ url });
    await admin.connect();
  });

  afterEach(async () => {
    await admin.sendCommand(['ACL', 'DELUSER', user]);
    admin.destroy();
  });

  it('sends AUTH with a fresh token on the open connection, 3 minutes before expiry, keeping commands going', async () => {
    const first = await tokenAt(now);
    await allow(first);
    const client = createClient({ url, credentialsProvider: iamCredentialsProvider(options) });
    await client.connect();
    const idBefore = await client.clientId();

    expect(pendingDelay).toBe(12 * 60 * 1_000);
    now = new Date(AT.getTime() + 12 * 60 * 1_000);
    const second = await tokenAt(now);
    await allow(first, second);
    const inFlight = Array.from({ length: 20 }, (_, i) => client.set(`${user}:k${i}`, String(i)));
    pending!();
    await Promise.all(inFlight);
    await new Promise((r) => setTimeout(r, 100));
    await allow(second); // the first token is no longer accepted anywhere

    const whoami = await client.sendCommand(['ACL', 'WHOAMI']);
    const idAfter = await client.clientId();
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => client.get(`${user}:k${i}`)));

    expect(whoami).toBe(user);
    expect(idAfter).toBe(idBefore);
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(pendingDelay).toBe(12 * 60 * 1_000);
    await client.del(Array.from({ length: 20 }, (_, i) => `${user}:k${i}`));
    client.destroy();
  });

  it('reports a failed re-authentication when the new token is refused, which shows AUTH was sent', async () => {
    const first = await tokenAt(now);
    await allow(first);
    const failures: string[] = [];
    const provider = iamCredentialsProvider(options);
    const client = createClient({
      url,
      credentialsProvider: {
        ...provider,
        onReAuthenticationError: (error) => failures.push(error.message),
      },
    });
    await client.connect();

    now = new Date(AT.getTime() + 12 * 60 * 1_000);
    pending!();
    for (let i = 0; i < 50 && failures.length === 0; i++) await new Promise((r) => setTimeout(r, 20));

    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/WRONGPASS/);
    client.destroy();
  });
});
