// The X-Ray daemon's side of the UDP link, for tests: a socket on a free loopback port that takes the datagrams
// the library's exporter sends, checks their header and decodes the OTLP protobuf they carry. The decoder reads
// only what the tests look at (trace.proto field numbers), and fails on anything it does not expect.

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  /** The names of its events (`exception` for a recorded error). */
  events: string[];
  /** 0 unset, 1 ok, 2 error */
  status: number;
  service: string;
}

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  get done() {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.buf[this.pos++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  }
  bytes(): Uint8Array {
    const length = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + length);
    if (out.length !== length) throw new Error('truncated field');
    this.pos += length;
    return out;
  }
  /** Calls `field` with each field's number and a reader for its value. */
  fields(field: (n: number, wire: number, r: Reader) => void): void {
    while (!this.done) {
      const tag = Number(this.varint());
      const n = tag >>> 3;
      const wire = tag & 7;
      const start = this.pos;
      field(n, wire, this);
      if (this.pos === start) this.skip(wire);
    }
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`wire type ${wire} not expected`);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

function anyValue(b: Uint8Array): string | number | boolean {
  let value: string | number | boolean = '';
  new Reader(b).fields((n, wire, r) => {
    if (n === 1 && wire === 2) value = text(r.bytes());
    else if (n === 2 && wire === 0) value = r.varint() !== 0n;
    else if (n === 3 && wire === 0) value = Number(BigInt.asIntN(64, r.varint()));
    else if (n === 4 && wire === 1) {
      value = Buffer.from(r.buf.subarray(r.pos, r.pos + 8)).readDoubleLE(0);
      r.pos += 8;
    }
  });
  return value;
}

function keyValue(b: Uint8Array): [string, string | number | boolean] {
  let key = '';
  let value: string | number | boolean = '';
  new Reader(b).fields((n, wire, r) => {
    if (n === 1 && wire === 2) key = text(r.bytes());
    else if (n === 2 && wire === 2) value = anyValue(r.bytes());
  });
  return [key, value];
}

function span(b: Uint8Array, service: string): DecodedSpan {
  const s: DecodedSpan = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    attributes: {},
    links: [],
    events: [],
    status: 0,
    service,
  };
  new Reader(b).fields((n, wire, r) => {
    if (wire === 2 && n === 1) s.traceId = hex(r.bytes());
    else if (wire === 2 && n === 2) s.spanId = hex(r.bytes());
    else if (wire === 2 && n === 4) s.parentSpanId = hex(r.bytes());
    else if (wire === 2 && n === 5) s.name = text(r.bytes());
    else if (wire === 0 && n === 6) s.kind = Number(r.varint());
    else if (wire === 2 && n === 9) {
      const [k, v] = keyValue(r.bytes());
      s.attributes[k] = v;
    } else if (wire === 2 && n === 13) {
      const link = { traceId: '', spanId: '' };
      new Reader(r.bytes()).fields((m, w, lr) => {
        if (w === 2 && m === 1) link.traceId = hex(lr.bytes());
        else if (w === 2 && m === 2) link.spanId = hex(lr.bytes());
      });
      s.links.push(link);
    } else if (wire === 2 && n === 11) {
      new Reader(r.bytes()).fields((m, w, er) => {
        if (w === 2 && m === 2) s.events.push(text(er.bytes()));
      });
    } else if (wire === 2 && n === 15) {
      new Reader(r.bytes()).fields((m, w, sr) => {
        if (w === 0 && m === 3) s.status = Number(sr.varint());
      });
    }
  });
  return s;
}

/** The spans of one `ExportTraceServiceRequest`, each with its resource's `service.name`. */
export function decodeTraceRequest(b: Uint8Array): DecodedSpan[] {
  const spans: DecodedSpan[] = [];
  new Reader(b).fields((n, wire, r) => {
    if (n !== 1 || wire !== 2) return;
    const resourceSpans = r.bytes();
    let service = '';
    const scopes: Uint8Array[] = [];
    new Reader(resourceSpans).fields((m, w, rr) => {
      if (m === 1 && w === 2) {
        new Reader(rr.bytes()).fields((a, aw, ar) => {
          if (a === 1 && aw === 2) {
            const [k, v] = keyValue(ar.bytes());
            if (k === 'service.name') service = String(v);
          }
        });
      } else if (m === 2 && w === 2) scopes.push(rr.bytes());
    });
    for (const scope of scopes) {
      new Reader(scope).fields((m, w, sr) => {
        if (m === 2 && w === 2) spans.push(span(sr.bytes(), service));
      });
    }
  });
  return spans;
}

const HEADER = '{"format":"json","version":1}\n';

export interface FakeDaemon {
  /** `host:port`, for AWS_XRAY_DAEMON_ADDRESS. */
  readonly address: string;
  readonly spans: DecodedSpan[];
  /** Datagrams that were not `header + T1S + base64(OTLP)`. */
  readonly malformed: string[];
  close(): Promise<void>;
}

/** A UDP socket on a free loopback port that decodes what an OTLP-over-UDP exporter sends it. */
export async function startFakeDaemon(): Promise<FakeDaemon> {
  const socket = createSocket('udp4');
  const spans: DecodedSpan[] = [];
  const malformed: string[] = [];
  socket.on('message', (message) => {
    const datagram = message.toString('utf8');
    if (!datagram.startsWith(`${HEADER}T1S`)) {
      malformed.push(datagram.slice(0, 200));
      return;
    }
    try {
      spans.push(...decodeTraceRequest(Buffer.from(datagram.slice(HEADER.length + 3), 'base64')));
    } catch (error) {
      malformed.push(String(error));
    }
  });
  await new Promise<void>((ready) => socket.bind(0, '127.0.0.1', ready));
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    spans,
    malformed,
    close: () => new Promise((done) => socket.close(() => done())),
  };
}

/**
 * A trace header as Lambda sets it in `_X_AMZN_TRACE_ID` for an invocation it traces: the trace id (X-Ray's, in
 * OpenTelemetry's hex) and the parent segment it names, and the header itself.
 */
export function lambdaTraceHeader(sampled = true): { traceId: string; parent: string; header: string } {
  const traceId = Math.floor(Date.now() / 1000).toString(16) + randomBytes(12).toString('hex');
  const parent = randomBytes(8).toString('hex');
  const header = `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${parent};Sampled=${sampled ? 1 : 0};Lineage=1:abcd1234:0`;
  return { traceId, parent, header };
}
