import { createServer, request as forward, type Server } from 'node:http';

/** One SQS call as the emulator saw it: the API action (`SendMessage`) and the queue's name. */
export interface SqsCall {
  action: string;
  queue: string;
}

export interface SqsRecorder {
  /** Give this to a function as AWS_ENDPOINT_URL_SQS; queue URLs asked through it name it too. */
  readonly url: string;
  readonly calls: SqsCall[];
  close(): Promise<void>;
}

/**
 * A pass-through in front of the SQS emulator that notes each call's action and queue: what one function's
 * code (and its event source mapping) asks of SQS, to hold against what its role is granted.
 */
export async function recordSqs(emulator: string): Promise<SqsRecorder> {
  const target = new URL(emulator);
  const calls: SqsCall[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = String(incoming.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
      let queue = '';
      try {
        const json = JSON.parse(body.toString('utf8')) as { QueueUrl?: string; QueueName?: string };
        queue = json.QueueUrl?.split('/').at(-1) ?? json.QueueName ?? '';
      } catch {
        // not JSON: not an SQS call this records
      }
      if (action) calls.push({ action, queue });
      const proxied = forward(
        {
          host: target.hostname,
          port: target.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      proxied.on('error', () => outgoing.destroy());
      proxied.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The names of `env` variables read from now on that start with `prefix`; `stop()` ends the recording. */
export function recordEnvironmentReads(prefix: string): { read: Set<string>; stop(): void } {
  const read = new Set<string>();
  const original = process.env;
  process.env = new Proxy(original, {
    get(target, key, receiver) {
      if (typeof key === 'string' && key.startsWith(prefix)) read.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
  return {
    read,
    stop() {
      process.env = original;
    },
  };
}
