// OpenTelemetry tracing through the events pipeline on real servers: events-api runs in this process, events-worker
// in its own (driven by the local poller), both with LAMBDA_INFRA_TRACING=otel and exporting to a fake X-Ray
// daemon on a loopback UDP port, which decodes the OTLP they send. One request is followed from the invocation
// Lambda traced, through the send to SQS, to the worker's handling of the message.

import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { sql } from '@lambda-infra/shared/db';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { type DecodedSpan, type FakeDaemon, lambdaTraceHeader, startFakeDaemon } from '../support/otlp.ts';
import { useEventsPipeline } from '../support/pipeline.ts';
import { until } from '../support/sqs.ts';

// Read once per container, at import: set before this file's imports load the library.
vi.hoisted(() => {
  process.env.LAMBDA_INFRA_TRACING = 'otel';
});

const KIND = { server: 2, producer: 4, consumer: 5 };
let daemon: FakeDaemon;
beforeAll(async () => {
  daemon = await startFakeDaemon();
});
afterAll(() => daemon?.close());

const pipeline = useEventsPipeline(`trace-${process.pid}`, () => ({
  LAMBDA_INFRA_TRACING: 'otel',
  AWS_XRAY_DAEMON_ADDRESS: daemon.address,
}));
const { sqs } = pipeline;

async function post(type: string, traceHeader: string) {
  process.env._X_AMZN_TRACE_ID = traceHeader;
  try {
    const response = await pipeline.api.handler(
      httpEvent({ body: { type, source: 'shop', payload: { n: 1 } } }),
      lambdaContext('events-api'),
    );
    return { status: response.statusCode, id: (JSON.parse(response.body ?? '{}') as { id: string }).id };
  } finally {
    delete process.env._X_AMZN_TRACE_ID;
  }
}

const stored = async (id: string) =>
  (await sql<{ id: string }>`select id from events where id = ${id}`.execute(pipeline.db.kysely)).rows
    .length === 1;

const only = (spans: DecodedSpan[], what: string) => {
  expect(spans, what).toHaveLength(1);
  return spans[0]!;
};

describe('OpenTelemetry tracing through API → SQS → worker', () => {
  it('exports one trace across the three, each span the child of the one before', async () => {
    const lambda = lambdaTraceHeader(true);
    const posted = await post(`trace.one-${randomUUID().slice(0, 6)}`, lambda.header);
    expect(posted.status).toBe(202);
    const inTrace = () => daemon.spans.filter((s) => s.traceId === lambda.traceId);
    await until(() => inTrace().some((s) => s.service === 'events-worker'));

    const spans = inTrace();
    const invocation = only(
      spans.filter((s) => s.service === 'events-api' && s.kind === KIND.server),
      'the API invocation',
    );
    const send = only(
      spans.filter((s) => s.kind === KIND.producer),
      'the send',
    );
    const handling = only(
      spans.filter((s) => s.service === 'events-worker'),
      'the message handling',
    );
    // The API's span hangs under the segment Lambda made for the invocation.
    expect(invocation.parentSpanId).toBe(lambda.parent);
    expect(invocation.attributes['http.response.status_code']).toBe(202);
    expect(invocation.attributes['faas.invocation_id']).toMatch(/^lambda-request-/);
    expect(send.parentSpanId).toBe(invocation.spanId);
    expect(send.attributes['messaging.destination.name']).toBe(pipeline.queues.source.split('/').at(-1));
    expect(handling.kind).toBe(KIND.consumer);
    expect(handling.parentSpanId).toBe(send.spanId);
    // The worker's own invocation (a trace of its own, as Lambda makes one per SQS invocation) is linked.
    const [link] = handling.links;
    expect(link).toBeDefined();
    const workerInvocation = daemon.spans.find((s) => s.spanId === link!.spanId);
    expect(workerInvocation).toMatchObject({ service: 'events-worker', traceId: link!.traceId });
    expect(workerInvocation!.traceId).not.toBe(lambda.traceId);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    expect(daemon.malformed).toEqual([]);
  });

  it('exports nothing of an invocation Lambda did not sample, on either side of the queue', async () => {
    const lambda = lambdaTraceHeader(false);
    const posted = await post(`trace.unsampled-${randomUUID().slice(0, 6)}`, lambda.header);
    expect(posted.status).toBe(202);
    await until(() => stored(posted.id));
    // The worker's invocation, which does not inherit the decision, is exported once the message is handled.
    const before = daemon.spans.length;
    const control = lambdaTraceHeader(true);
    const marker = await post(`trace.control-${randomUUID().slice(0, 6)}`, control.header);
    await until(() => stored(marker.id));
    await until(() =>
      daemon.spans.some((s) => s.traceId === control.traceId && s.service === 'events-worker'),
    );

    expect(daemon.spans.length).toBeGreaterThan(before);
    expect(daemon.spans.filter((s) => s.traceId === lambda.traceId)).toEqual([]);
  });

  it('handles a message whose trace attribute is hostile as one with none, as a child of its invocation', async () => {
    const id = randomUUID();
    const type = `trace.hostile-${randomUUID().slice(0, 6)}`;
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: pipeline.queues.source,
        MessageBody: JSON.stringify({ id, type, source: 'shop', payload: {} }),
        MessageAttributes: {
          'X-Amzn-Trace-Id': {
            DataType: 'String',
            StringValue: `Root=1-zzzz;Parent=${'f'.repeat(4_000)};Sampled=1\r\nX-Injected: yes`,
          },
        },
      }),
    );
    await until(() => stored(id));
    const handling = () => daemon.spans.find((s) => s.attributes['messaging.message.id'] === MessageId);
    await until(() => handling() !== undefined);
    const span = handling()!;
    const parent = daemon.spans.find((p) => p.spanId === span.parentSpanId);

    expect(parent).toMatchObject({ service: 'events-worker', kind: KIND.consumer, parentSpanId: '' });
    expect(span.links).toEqual([]);
    expect(daemon.malformed).toEqual([]);
  });
});
