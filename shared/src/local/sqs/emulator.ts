import { buildApp } from 'fauxqs';

export interface SqsEmulator {
  /** The endpoint for `AWS_ENDPOINT_URL_SQS`; queue URLs it hands out start with it. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

// The actions whose answers carry queue URLs.
const URL_ACTIONS = new Set([
  'AmazonSQS.CreateQueue',
  'AmazonSQS.GetQueueUrl',
  'AmazonSQS.ListQueues',
  'AmazonSQS.ListDeadLetterSourceQueues',
]);
const EMULATOR_HOST = /http:\/\/sqs\.[a-z0-9-]+\.localhost(?::\d+)?\//g;

/**
 * The SQS emulator (fauxqs) on loopback only, handing out queue URLs on the address it was reached at
 * (`http://127.0.0.1:PORT/000000000000/name`). fauxqs names queues `http://sqs.{region}.localhost:PORT/…` (or
 * `sqs.{region}.{host}` with its `host` option), which resolve only where `*.localhost` is loopback: elsewhere
 * the SDK, which sends each call to its queue URL's host, fails or logs an `Invalid URL` per call. Its own
 * `startFauxqs` also listens on every address.
 */
export async function startSqsEmulator(options: { port?: number; host?: string } = {}): Promise<SqsEmulator> {
  const app = buildApp({ logger: false });
  app.addHook('onSend', async (request, _reply, payload) => {
    const action = request.headers['x-amz-target'];
    if (typeof payload !== 'string' || typeof action !== 'string' || !URL_ACTIONS.has(action)) return payload;
    return payload.replace(EMULATOR_HOST, `http://${request.headers.host}/`);
  });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  return {
    url: `http://${host}:${port}`,
    port,
    stop: () => app.close(),
  };
}
