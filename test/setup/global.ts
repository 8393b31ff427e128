import { connect } from 'node:net';
import { startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import { startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    ssmEndpointUrl: string;
    sqsEndpointUrl: string;
    redisUrl: string;
    postgresUrl: string;
  }
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const HOW_TO_START = {
  redis:
    'start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no ' +
    '(or set REDIS_URL)',
  postgres:
    'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start ' +
    '(or set DATABASE_URL)',
};

/** Sends `probe` and resolves with the first bytes the server answers, or rejects with why it could not. */
function ask(url: string, probe: Buffer, timeoutMs = 2_000): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write(probe));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function checkRedis(): Promise<string | undefined> {
  try {
    const answer = await ask(REDIS_URL, Buffer.from('PING\r\n'));
    return answer.toString().startsWith('+PONG') ? undefined : `Redis at ${REDIS_URL} answered ${answer}`;
  } catch (error) {
    return `Redis is not reachable at ${REDIS_URL} (${(error as Error).message}); ${HOW_TO_START.redis}`;
  }
}

async function checkPostgres(): Promise<string | undefined> {
  // An SSLRequest: any PostgreSQL answers it with one byte, S or N, before any authentication.
  const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
  try {
    const answer = await ask(POSTGRES_URL, sslRequest);
    const byte = String.fromCharCode(answer[0] ?? 0);
    return byte === 'S' || byte === 'N' ? undefined : `the server at ${POSTGRES_URL} is not PostgreSQL`;
  } catch (error) {
    return `PostgreSQL is not reachable at ${POSTGRES_URL} (${(error as Error).message}); ${HOW_TO_START.postgres}`;
  }
}

export default async function setup(project: TestProject) {
  const problems = (await Promise.all([checkRedis(), checkPostgres()])).filter(Boolean);
  if (problems.length > 0) throw new Error(`The tests need these services:\n- ${problems.join('\n- ')}`);

  // With AWS_ENDPOINT_URL set (LocalStack, say), the SQS and SSM calls of the tests go there; otherwise to the
  // emulators started here. Redis and PostgreSQL are real servers either way.
  const external = process.env.AWS_ENDPOINT_URL;
  const ssm = external ? undefined : await startSsmEndpoint();
  const sqs = external ? undefined : await startSqsEmulator();
  const ssmUrl = external ?? (ssm as { url: string }).url;
  const sqsUrl = external ?? (sqs as { url: string }).url;

  // Test workers start after this and inherit the variables, so every SDK client finds the emulators.
  process.env.AWS_ENDPOINT_URL_SSM = ssmUrl;
  process.env.AWS_ENDPOINT_URL_SQS = sqsUrl;
  project.provide('ssmEndpointUrl', ssmUrl);
  project.provide('sqsEndpointUrl', sqsUrl);
  project.provide('redisUrl', REDIS_URL);
  project.provide('postgresUrl', POSTGRES_URL);

  return async () => {
    await Promise.all([ssm?.close(), sqs?.stop()]);
  };
}
