// The library's OTLP encoder against OpenTelemetry's own serializer: both requests decoded field by field (defaults
// left out, as proto3 reads them) must be the same message, for spans with every kind of attribute, events, links,
// statuses, remote and local parents, and several resources and scopes.
import { context, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { encodeTraceRequest } from '../../shared/src/observability/tracing/otlp.ts';
import { decodeTraceRequest } from '../support/otlp.ts';

/** Which fields of each message are messages themselves (trace.proto, common.proto, resource.proto). */
const MESSAGES: Record<string, Record<number, string>> = {
  Request: { 1: 'ResourceSpans' },
  ResourceSpans: { 1: 'Resource', 2: 'ScopeSpans' },
  Resource: { 1: 'KeyValue' },
  ScopeSpans: { 1: 'Scope', 2: 'Span' },
  Scope: { 3: 'KeyValue' },
  Span: { 9: 'KeyValue', 11: 'Event', 13: 'Link', 15: 'Status' },
  Event: { 3: 'KeyValue' },
  Link: { 4: 'KeyValue' },
  KeyValue: { 2: 'AnyValue' },
  AnyValue: { 5: 'ArrayValue' },
  ArrayValue: { 1: 'AnyValue' },
  Status: {},
};

type Field = [number, unknown];

/** A message as its fields in order, scalars at their proto3 default left out. */
function decode(bytes: Uint8Array, type: string): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const varint = () => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (pos < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint();
      if (v !== 0n) fields.push([field, v.toString()]);
    } else if (wire === 1) {
      const v = Buffer.from(bytes.subarray(pos, pos + 8)).readBigUInt64LE(0);
      pos += 8;
      if (v !== 0n) fields.push([field, v.toString()]);
    } else if (wire === 5) {
      const v = Buffer.from(bytes.subarray(pos, pos + 4)).readUInt32LE(0);
      pos += 4;
      if (v !== 0) fields.push([field, v]);
    } else if (wire === 2) {
      const length = Number(varint());
      const body = bytes.subarray(pos, pos + length);
      pos += length;
      const nested = MESSAGES[type]![field];
      if (nested) fields.push([field, decode(body, nested)]);
      else if (body.length > 0) fields.push([field, Buffer.from(body).toString('hex')]);
    } else throw new Error(`wire type ${wire}`);
  }
  return fields;
}

function spans() {
  const memory = new InMemorySpanExporter();
  const make = (service: string) =>
    new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'cloud.provider': 'aws', answer: 42 }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    });
  const api = make('events-api');
  const worker = make('events-worker');
  const tracer = api.getTracer('@lambda-infra/shared', '1.2.3');
  const other = api.getTracer('other-scope');
  const remote = {
    traceId: '6b15d9dfc34ff7c5a34552cc9966384c',
    spanId: '594440276de16bc3',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  };
  const parent = trace.setSpanContext(context.active(), remote);
  const root = tracer.startSpan(
    'POST /events',
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'POST',
        'http.response.status_code': 202,
        negative: -5,
        ratio: 0.25,
        huge: 2 ** 60,
        ok: true,
        no: false,
        empty: '',
        'ünïcödé ✓': 'välue ✓',
        list: ['a', 'b'],
        numbers: [1, 2.5, -3],
        long: 'x'.repeat(300),
      },
    },
    parent,
  );
  root.addEvent('retry', { attempt: 2 });
  root.recordException(new Error('boom'));
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'it failed' });
  root.end();
  const child = other.startSpan(
    'queue send',
    { kind: SpanKind.PRODUCER, links: [{ context: remote, attributes: { why: 'batch' } }] },
    trace.setSpan(context.active(), root),
  );
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  worker.getTracer('@lambda-infra/shared').startSpan('q process', { kind: SpanKind.CONSUMER }).end();
  return memory.getFinishedSpans();
}

describe('encodeTraceRequest', () => {
  it("writes the same message as OpenTelemetry's serializer", () => {
    const finished = spans();
    const ours = encodeTraceRequest(finished);
    const theirs = ProtobufTraceSerializer.serializeRequest(finished)!;

    expect(decode(ours, 'Request')).toEqual(decode(theirs, 'Request'));
    expect(decodeTraceRequest(ours).map((s) => [s.service, s.name])).toEqual([
      ['events-api', 'POST /events'],
      ['events-api', 'queue send'],
      ['events-worker', 'q process'],
    ]);
  });

  it('writes a request bigger than its first buffer whole', () => {
    const memory = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
    for (let i = 0; i < 50; i++) {
      provider
        .getTracer('t')
        .startSpan(`span-${i}`, { attributes: { big: 'y'.repeat(1_000) } })
        .end();
    }
    const finished = memory.getFinishedSpans();

    expect(decode(encodeTraceRequest(finished), 'Request')).toEqual(
      decode(ProtobufTraceSerializer.serializeRequest(finished)!, 'Request'),
    );
    expect(encodeTraceRequest([])).toHaveLength(0);
  });
});
