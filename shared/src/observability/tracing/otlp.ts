import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * Spans as an OTLP `ExportTraceServiceRequest` in protobuf (opentelemetry-proto's trace.proto field numbers), written
 * straight into one buffer. A resource's bytes are written once per resource and reused: in a Lambda container
 * every span has the same one, and it is most of a small request.
 */

/** Where a nested message's length goes: one byte is kept for it, and the body moved on when it needs more. */
class Writer {
  buf = Buffer.allocUnsafe(2048);
  pos = 0;

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  varint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v > 127) {
      this.buf[this.pos++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  bigVarint(value: bigint): void {
    this.ensure(10);
    let v = BigInt.asUintN(64, value);
    while (v > 127n) {
      this.buf[this.pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  string(field: number, value: string): void {
    const length = Buffer.byteLength(value);
    this.tag(field, 2);
    this.varint(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  raw(field: number, bytes: Uint8Array): void {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  hex(field: number, hex: string): void {
    const length = hex.length >> 1;
    this.tag(field, 2);
    this.varint(length);
    this.ensure(length);
    this.pos += this.buf.write(hex, this.pos, length, 'hex');
  }

  fixed64(field: number, value: bigint): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, value), this.pos);
    this.pos += 8;
  }

  double(field: number, value: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  fixed32(field: number, value: number): void {
    this.tag(field, 5);
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** Opens a nested message of `field`; `end(at)` closes it. */
  begin(field: number): number {
    this.tag(field, 2);
    this.ensure(1);
    return this.pos++;
  }

  end(at: number): void {
    const length = this.pos - at - 1;
    let size = 1;
    for (let v = length; v > 127; v = Math.floor(v / 128)) size++;
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    let v = length;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
  }
}

const nanos = (time: HrTime): bigint => BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);

function anyValue(w: Writer, field: number, value: AttributeValue | null | undefined): void {
  const at = w.begin(field);
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') {
    w.tag(2, 0);
    w.varint(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value)) {
      w.tag(3, 0);
      if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) w.varint(value);
      else w.bigVarint(BigInt(value));
    } else w.double(4, value);
  } else if (Array.isArray(value)) {
    const array = w.begin(5);
    for (const item of value) anyValue(w, 1, item as AttributeValue | null | undefined);
    w.end(array);
  }
  w.end(at);
}

function attributes(w: Writer, field: number, values: Attributes): void {
  for (const key in values) {
    const value = values[key];
    if (value === undefined) continue;
    const at = w.begin(field);
    w.string(1, key);
    anyValue(w, 2, value);
    w.end(at);
  }
}

function span(w: Writer, s: ReadableSpan): void {
  const at = w.begin(2);
  const context = s.spanContext();
  w.hex(1, context.traceId);
  w.hex(2, context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) w.string(3, traceState);
  const parent = s.parentSpanContext;
  if (parent?.spanId) w.hex(4, parent.spanId);
  w.string(5, s.name);
  // The API's SpanKind counts from INTERNAL = 0; OTLP's from UNSPECIFIED = 0.
  w.tag(6, 0);
  w.varint(s.kind + 1);
  w.fixed64(7, nanos(s.startTime));
  w.fixed64(8, nanos(s.endTime));
  attributes(w, 9, s.attributes);
  if (s.droppedAttributesCount) {
    w.tag(10, 0);
    w.varint(s.droppedAttributesCount);
  }
  for (const event of s.events) {
    const e = w.begin(11);
    w.fixed64(1, nanos(event.time));
    w.string(2, event.name);
    if (event.attributes) attributes(w, 3, event.attributes);
    if (event.droppedAttributesCount) {
      w.tag(4, 0);
      w.varint(event.droppedAttributesCount);
    }
    w.end(e);
  }
  if (s.droppedEventsCount) {
    w.tag(12, 0);
    w.varint(s.droppedEventsCount);
  }
  for (const link of s.links) {
    const l = w.begin(13);
    w.hex(1, link.context.traceId);
    w.hex(2, link.context.spanId);
    const linkState = link.context.traceState?.serialize();
    if (linkState) w.string(3, linkState);
    if (link.attributes) attributes(w, 4, link.attributes);
    if (link.droppedAttributesCount) {
      w.tag(5, 0);
      w.varint(link.droppedAttributesCount);
    }
    w.fixed32(6, (link.context.traceFlags & 0xff) | 0x100 | (link.context.isRemote ? 0x200 : 0));
    w.end(l);
  }
  if (s.droppedLinksCount) {
    w.tag(14, 0);
    w.varint(s.droppedLinksCount);
  }
  const status = w.begin(15);
  if (s.status.message) w.string(2, s.status.message);
  if (s.status.code) {
    w.tag(3, 0);
    w.varint(s.status.code);
  }
  w.end(status);
  // The span's trace flags, and whether its parent is remote (OTLP's SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE and IS_REMOTE).
  w.fixed32(16, (context.traceFlags & 0xff) | 0x100 | (parent?.isRemote ? 0x200 : 0));
  w.end(at);
}

const resources = new WeakMap<object, Buffer>();

/** A resource's `Resource` message, written once. */
function resourceBytes(resource: ReadableSpan['resource']): Buffer {
  let bytes = resources.get(resource);
  if (!bytes) {
    const w = new Writer();
    attributes(w, 1, resource.attributes);
    bytes = Buffer.from(w.buf.subarray(0, w.pos));
    resources.set(resource, bytes);
  }
  return bytes;
}

const writer = new Writer();

/** The spans as one `ExportTraceServiceRequest`, grouped by resource and instrumentation scope. */
export function encodeTraceRequest(spans: readonly ReadableSpan[]): Buffer {
  const groups = new Map<object, Map<object, ReadableSpan[]>>();
  for (const s of spans) {
    let scopes = groups.get(s.resource);
    if (!scopes) {
      scopes = new Map();
      groups.set(s.resource, scopes);
    }
    const scope = scopes.get(s.instrumentationScope);
    if (scope) scope.push(s);
    else scopes.set(s.instrumentationScope, [s]);
  }
  const w = writer;
  w.pos = 0;
  for (const [resource, scopes] of groups) {
    const resourceSpans = w.begin(1);
    w.raw(1, resourceBytes(resource as ReadableSpan['resource']));
    for (const [scope, inScope] of scopes) {
      const scopeSpans = w.begin(2);
      const { name, version, schemaUrl } = scope as ReadableSpan['instrumentationScope'];
      const s = w.begin(1);
      w.string(1, name);
      if (version) w.string(2, version);
      w.end(s);
      for (const one of inScope) span(w, one);
      if (schemaUrl) w.string(3, schemaUrl);
      w.end(scopeSpans);
    }
    const schema = (resource as ReadableSpan['resource']).schemaUrl;
    if (schema) w.string(3, schema);
    w.end(resourceSpans);
  }
  return Buffer.from(w.buf.subarray(0, w.pos));
}
