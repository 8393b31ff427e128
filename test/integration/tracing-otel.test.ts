// The OpenTelemetry back end in one process, against fauxqs and a fake X-Ray daemon on loopback: a FIFO queue
// carries the trace as a standard one does, a daemon that is not there (or an address that is garbage) costs no
// invocation anything, errors close spans as what they became, and the trace attribute gives way to the caller's.
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { InfraError } from '@lambda-infra/shared/errors';
import { startPoller } from '@lambda-infra/shared/local/sqs';
import { createPublisher, createSqsHandler } from '@lambda-infra/shared/mq';
import {
  TRACE_ATTRIBUTE,
  tracing,
  withCorrelationId,
  withPowertools,
} from '@lambda-infra/shared/observability';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { XRayDaemonExporter } from '../../shared/src/observability/tracing/otel.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { type FakeDaemon, lambdaTraceHeader, startFakeDaemon } from '../support/otlp.ts';
import { fauxqsClient, until } from '../support/sqs.ts';

vi.hoisted(() => {
  process.env.LAMBDA_INFRA_TRACING = 'otel';
});

const KIND = { server: 2, producer: 4, consumer: 5 };
const sqs = fauxqsClient();
const queues: string[] = [];
let daemon: FakeDaemon;
let emitted: Emitted;
const saved = { ...process.env };

beforeAll(async () => {
  daemon = await startFakeDaemon();
  process.env.AWS_XRAY_DAEMON_ADDRESS = daemon.address;
  process.env.AWS_ENDPOINT_URL_SQS = inject('sqsEndpointUrl');
  emitted = captureConsole();
});

afterAll(async () => {
  emitted.restore();
  await daemon.close();
  await Promise.all(queues.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
  process.env = saved;
});

async function queue(fifo: boolean): Promise<string> {
  const name = `lambda-infra-trace-${randomUUID().slice(0, 8)}${fifo ? '.fifo' : ''}`;
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' } : {},
    }),
  );
  queues.push(QueueUrl!);
  return QueueUrl!;
}

/** Runs `fn` as one invocation Lambda traced with `header`, through the library's base handler. */
async function invoke<T>(header: string, fn: () => Promise<T>): Promise<T> {
  process.env._X_AMZN_TRACE_ID = header;
  try {
    return await withPowertools(async () => fn())({}, lambdaContext('producer'));
  } finally {
    delete process.env._X_AMZN_TRACE_ID;
  }
}

describe('OpenTelemetry tracing, one process', () => {
  it('is the back end the environment chose', () => {
    expect(tracing.enabled).toBe(true);
  });

  it.each([
    ['standard', false],
    ['FIFO', true],
  ])('links a message on a %s queue to the span that sent it', async (_kind, fifo) => {
    const url = await queue(fifo);
    const lambda = lambdaTraceHeader();
    const publisher = createPublisher<{ n: number }>({ queueUrl: url, breaker: false });
    const { messageId } = await invoke(lambda.header, () =>
      publisher.publish({ n: 1 }, fifo ? { groupId: 'g-1' } : {}),
    );
    const handled: string[] = [];
    const poller = await startPoller({
      queueUrl: url,
      handler: createSqsHandler<{ n: number }>({
        handle: ({ record }) => {
          handled.push(record.messageId);
        },
      }),
      functionName: 'consumer',
      waitTimeSeconds: 1,
    });
    try {
      await until(() => daemon.spans.some((s) => s.attributes['messaging.message.id'] === messageId));
    } finally {
      await poller.stop();
    }
    const send = daemon.spans.find((s) => s.traceId === lambda.traceId && s.kind === KIND.producer)!;
    const invocation = daemon.spans.find((s) => s.spanId === send.parentSpanId)!;
    const handling = daemon.spans.find((s) => s.attributes['messaging.message.id'] === messageId)!;

    expect(handled).toEqual([messageId]);
    expect(invocation.parentSpanId).toBe(lambda.parent);
    expect(send.attributes['messaging.destination.name']).toBe(url.split('/').at(-1));
    expect(handling).toMatchObject({
      traceId: lambda.traceId,
      parentSpanId: send.spanId,
      kind: KIND.consumer,
    });
  });

  it('closes a span as an error when the handler throws, and as the answer a middleware made of it', async () => {
    const lambda = lambdaTraceHeader();
    const thrown = invoke(lambda.header, async () => {
      throw new Error('boom');
    });
    await expect(thrown).rejects.toThrow('boom');
    const answered = withPowertools(async (): Promise<{ statusCode: number }> => {
      throw new InfraError('bad', { type: 'validation', component: 'test' });
    }).use({
      onError: (request) => {
        request.response = { statusCode: 400 };
      },
    });
    const second = lambdaTraceHeader();
    process.env._X_AMZN_TRACE_ID = second.header;
    try {
      expect(await answered({}, lambdaContext('answered'))).toEqual({ statusCode: 400 });
    } finally {
      delete process.env._X_AMZN_TRACE_ID;
    }
    await until(() => daemon.spans.some((s) => s.traceId === second.traceId));

    expect(daemon.spans.find((s) => s.traceId === lambda.traceId)).toMatchObject({ status: 2 });
    expect(daemon.spans.find((s) => s.traceId === second.traceId)).toMatchObject({
      status: 0,
      attributes: expect.objectContaining({ 'http.response.status_code': 400 }),
    });
  });

  it('records the error a handler threw on the invocation span of the 500 it was answered with', async () => {
    const { createHttpHandler } = await import('@lambda-infra/shared/handler');
    const failing = createHttpHandler({
      handle: () => {
        throw new Error('disk on fire');
      },
    });
    const lambda = lambdaTraceHeader();
    process.env._X_AMZN_TRACE_ID = lambda.header;
    try {
      expect(
        (await failing(httpEvent({ method: 'GET', path: '/' }), lambdaContext('failing'))).statusCode,
      ).toBe(500);
    } finally {
      delete process.env._X_AMZN_TRACE_ID;
    }
    await until(() => daemon.spans.some((s) => s.traceId === lambda.traceId));

    expect(daemon.spans.find((s) => s.traceId === lambda.traceId)).toMatchObject({
      kind: KIND.server,
      status: 2,
      events: ['exception'],
      attributes: expect.objectContaining({ 'http.response.status_code': 500 }),
    });
  });

  it('leaves the trace attribute off where the caller needs the slot, and refuses more than SQS takes', async () => {
    const url = await queue(false);
    const publisher = createPublisher({ queueUrl: url, breaker: false });
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`a${i}`, `v${i}`]));
    const ten = { ...nine, a9: 'v9' };
    const lambda = lambdaTraceHeader();
    // With a correlation id, which takes an attribute of its own.
    await invoke(lambda.header, () =>
      withCorrelationId('c-1', async () => {
        await publisher.publish({ n: 1 }, { attributes: { a0: 'v0' } });
        await publisher.publish({ n: 2 }, { attributes: nine });
      }),
    );
    const refused = await invoke(lambda.header, () =>
      withCorrelationId('c-1', () => publisher.publish({ n: 3 }, { attributes: ten })),
    ).catch((e: InfraError) => e);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    const byBody = new Map(Messages.map((m) => [JSON.parse(m.Body!).n, m.MessageAttributes ?? {}]));

    expect(Object.keys(byBody.get(1)!).sort()).toEqual([TRACE_ATTRIBUTE, 'a0', 'correlationId'].sort());
    expect(byBody.get(1)![TRACE_ATTRIBUTE]?.StringValue).toMatch(
      new RegExp(
        `^Root=1-${lambda.traceId.slice(0, 8)}-${lambda.traceId.slice(8)};Parent=[0-9a-f]{16};Sampled=1$`,
      ),
    );
    expect(Object.keys(byBody.get(2)!)).toHaveLength(10);
    expect(byBody.get(2)![TRACE_ATTRIBUTE]).toBeUndefined();
    expect(byBody.has(3)).toBe(false);
    expect(refused).toBeInstanceOf(InfraError);
    expect((refused as InfraError).fields).toEqual([
      expect.objectContaining({ path: '[0].attributes', rule: 'max_items' }),
    ]);
  });
});

/** One ended span, from the provider the back end made. */
async function oneSpan() {
  const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } = await import(
    '@opentelemetry/sdk-trace'
  );
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  provider.getTracer('test').startSpan('one').end();
  return memory.getFinishedSpans()[0]!;
}

/**
 * Three invocations of a handler on the library's base, in a fresh process (a container of its own, whose tracing
 * is chosen at import) with `env` added to LAMBDA_INFRA_TRACING=otel: the status codes it answered.
 */
async function invokeInContainer(env: Record<string, string>): Promise<number[]> {
  const { execFile } = await import('node:child_process');
  const script = `
    const { withPowertools } = await import('@lambda-infra/shared/observability');
    const handler = withPowertools(async () => ({ statusCode: 200 }));
    const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await handler({}, context)).statusCode);
    console.log(JSON.stringify(answers));`;
  const stdout = await new Promise<string>((done, fail) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      {
        env: { ...process.env, LAMBDA_INFRA_TRACING: 'otel', POWERTOOLS_METRICS_DISABLED: 'true', ...env },
      },
      (error, out, stderr) => (error ? fail(new Error(stderr)) : done(out)),
    ),
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as number[];
}

describe('in Lambda, the invocation Lambda traces decides', () => {
  it.each([
    ['with no trace header (no active tracing)', 0, undefined],
    ['with a header that says not sampled', 0, false],
    ['with a sampled header', 3, true],
  ])('%s: %i invocation spans exported', async (_what, expected, sampled) => {
    const before = daemon.spans.length;
    const header = sampled === undefined ? undefined : lambdaTraceHeader(sampled).header;
    await invokeInContainer({
      AWS_XRAY_DAEMON_ADDRESS: daemon.address,
      AWS_LAMBDA_FUNCTION_NAME: 'f',
      LAMBDA_TASK_ROOT: '/var/task',
      ...(header ? { _X_AMZN_TRACE_ID: header } : {}),
    });
    // Datagrams on loopback arrive before the child's exit is seen; a moment more for a late one.
    await new Promise((r) => setTimeout(r, 100));

    expect(daemon.spans.length - before).toBe(expected);
  });
});

describe('the exporter when the daemon is not there', () => {
  it.each([
    ['a closed port', { host: '127.0.0.1', port: 0 }],
    ['a host that does not resolve', { host: 'no-such-daemon.invalid', port: 2000 }],
  ])('answers every export, to %s, without an error reaching the caller', async (_what, address) => {
    const spans = [await oneSpan()];
    let port = address.port;
    if (port === 0) {
      // A port that was free a moment ago: bound, read, closed.
      const probe = createSocket('udp4');
      await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
      port = probe.address().port;
      await new Promise<void>((r) => probe.close(() => r()));
    }
    const exporter = new XRayDaemonExporter({ host: address.host, port });
    const results: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((done) =>
        exporter.export(spans, (result) => {
          results.push(result.code);
          done();
        }),
      );
    }
    await exporter.shutdown();

    // Each export answered (a failed one loses its spans, nothing else), none left waiting.
    expect(results).toHaveLength(3);
  });

  it('lets an invocation succeed when AWS_XRAY_DAEMON_ADDRESS points at nothing', async () => {
    for (const address of ['127.0.0.1:9', 'garbage', 'udp:[::1]:9 tcp:127.0.0.1:9']) {
      const answers = await invokeInContainer({
        AWS_XRAY_DAEMON_ADDRESS: address,
        _X_AMZN_TRACE_ID: lambdaTraceHeader().header,
      });
      expect(answers, address).toEqual([200, 200, 200]);
    }
  });
});
