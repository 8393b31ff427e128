import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  type Context,
  context as contexts,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  type IdGenerator,
  ParentBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Context as LambdaContext } from 'aws-lambda';
import type { Tracing } from '../tracing.ts';
import { encodeTraceRequest } from './otlp.ts';

/**
 * Trace ids X-Ray takes as its own: the first 8 hex digits are the start time in epoch seconds, so a trace that
 * starts here (no Lambda segment above it, as in a local run) is indexed by X-Ray as any other.
 */
export class XRayIdGenerator implements IdGenerator {
  // Random bytes drawn from the CSPRNG a page at a time: one call for each id costs more than the span it names.
  #pool = Buffer.alloc(0);
  #used = 0;

  #hex(bytes: number): string {
    if (this.#used + bytes > this.#pool.length) {
      this.#pool = randomBytes(4096);
      this.#used = 0;
    }
    const hex = this.#pool.toString('hex', this.#used, this.#used + bytes);
    this.#used += bytes;
    return hex;
  }

  generateTraceId(): string {
    const seconds = Math.floor(Date.now() / 1000)
      .toString(16)
      .padStart(8, '0');
    return seconds + this.#hex(12);
  }

  generateSpanId(): string {
    return this.#hex(8);
  }
}

/** The most one datagram carries to the daemon; a bigger export is split. */
const MAX_DATAGRAM_BYTES = 64 * 1024 - 1;
const DAEMON_HEADER = '{"format":"json","version":1}\n';
const CONNECT_TIMEOUT_MS = 200;
const RECONNECT_AFTER_MS = 60_000;

/** `host:port` of the daemon's UDP side from `AWS_XRAY_DAEMON_ADDRESS` (`host:port` or `udp:h:p tcp:h:p`). */
export function daemonAddress(value: string | undefined): { host: string; port: number } {
  const chosen =
    value
      ?.split(/\s+/)
      .find((part) => part.startsWith('udp:'))
      ?.slice(4) ?? value?.trim();
  const match = chosen ? /^([^\s:]+|\[[^\]]+\]):(\d{1,5})$/.exec(chosen) : null;
  if (!match) return { host: '127.0.0.1', port: 2000 };
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/**
 * Sends spans as OTLP to the X-Ray daemon Lambda runs in every traced sandbox, over UDP on the loopback
 * link: no HTTPS call, no signing, no collector layer, and nothing to route out of the VPC. Each datagram is
 * the daemon's protocol header, `T1S` (sampled OTLP traces) and the base64 of an `ExportTraceServiceRequest`.
 *
 * The socket is made and connected at the first export, which waits for it. Later exports hand their datagrams
 * to the connected socket at once (no lookup, no callback to wait for): the kernel has them before the
 * invocation's answer goes back, so a sandbox frozen right after loses nothing.
 */
export class XRayDaemonExporter implements SpanExporter {
  #address: { host: string; port: number } | undefined;
  #socket: Socket | undefined;
  #connected: Promise<Socket | undefined> | undefined;
  /** After a failed connect, exports are dropped until then: a bad address costs one lookup a minute, not one each. */
  #retryAt = 0;

  /** `address` defaults to `AWS_XRAY_DAEMON_ADDRESS`, read at the first export. */
  constructor(address?: { host: string; port: number }) {
    this.#address = address;
  }

  #datagrams(spans: ReadableSpan[]): Buffer[] {
    if (spans.length === 0) return [];
    const datagram = Buffer.from(`${DAEMON_HEADER}T1S${encodeTraceRequest(spans).toString('base64')}`);
    if (datagram.length <= MAX_DATAGRAM_BYTES) return [datagram];
    // One span alone too big for a datagram cannot be sent; it is dropped rather than failing the rest.
    if (spans.length === 1) return [];
    const half = Math.ceil(spans.length / 2);
    return [...this.#datagrams(spans.slice(0, half)), ...this.#datagrams(spans.slice(half))];
  }

  /**
   * The socket, connected; undefined when it could not be (a host that does not resolve, a lookup that hangs):
   * those exports are dropped, and an export a minute later tries again. Never leaves an invocation waiting.
   */
  #connect(): Promise<Socket | undefined> {
    this.#address ??= daemonAddress(process.env.AWS_XRAY_DAEMON_ADDRESS);
    const { host, port } = this.#address;
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.unref();
    return new Promise((settle) => {
      const failed = () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        try {
          socket.close();
        } catch {
          // already closed
        }
        this.#connected = undefined;
        this.#retryAt = Date.now() + RECONNECT_AFTER_MS;
        settle(undefined);
      };
      // The daemon's address is an IP literal in Lambda; a name that takes longer than this to resolve is dropped.
      const timer = setTimeout(failed, CONNECT_TIMEOUT_MS).unref();
      socket.once('error', failed);
      // Node calls back with the lookup's error when there is one (its types say no argument).
      socket.connect(port, host, ((error?: Error) => {
        if (error) {
          failed();
          return;
        }
        clearTimeout(timer);
        socket.removeListener('error', failed);
        // A daemon that is not there answers nothing over UDP; an error on the socket is not the caller's.
        socket.on('error', () => undefined);
        this.#socket = socket;
        settle(socket);
      }) as () => void);
    });
  }

  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode; error?: Error }) => void): void {
    let datagrams: Buffer[];
    try {
      datagrams = this.#datagrams(spans);
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
      return;
    }
    const send = (socket: Socket | undefined) => {
      if (!socket) {
        done({
          code: ExportResultCode.FAILED,
          error: new Error(`no X-Ray daemon socket at ${this.#address?.host}:${this.#address?.port}`),
        });
        return;
      }
      try {
        for (const datagram of datagrams) socket.send(datagram);
      } catch (error) {
        done({ code: ExportResultCode.FAILED, error: error as Error });
        return;
      }
      done({ code: ExportResultCode.SUCCESS });
    };
    if (datagrams.length === 0) done({ code: ExportResultCode.SUCCESS });
    else if (this.#socket) send(this.#socket);
    else if (!this.#connected && Date.now() < this.#retryAt) send(undefined);
    else {
      this.#connected ??= this.#connect();
      void this.#connected.then(send);
    }
  }

  async shutdown(): Promise<void> {
    this.#socket?.close();
    this.#socket = undefined;
    this.#connected = undefined;
  }
}

/**
 * Holds the spans that end during an invocation and exports them when it ends, in one call: no timer, and
 * nothing left unsent when Lambda freezes the sandbox. A long invocation sends early every `maxSpans`.
 */
export class InvocationSpanProcessor implements SpanProcessor {
  readonly #exporter: SpanExporter;
  readonly #maxSpans: number;
  #spans: ReadableSpan[] = [];

  constructor(exporter: SpanExporter, maxSpans = 256) {
    this.#exporter = exporter;
    this.#maxSpans = maxSpans;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (!span.spanContext().traceFlags) return;
    this.#spans.push(span);
    if (this.#spans.length >= this.#maxSpans) void this.forceFlush();
  }

  forceFlush(): Promise<void> {
    if (this.#spans.length === 0) return Promise.resolve();
    const spans = this.#spans;
    this.#spans = [];
    // Tracing never fails an invocation: an export that fails loses its spans, not the answer.
    return new Promise((resolve) => this.#exporter.export(spans, () => resolve()));
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    await this.#exporter.shutdown();
  }
}

export interface OtelTracingOptions {
  exporter?: SpanExporter;
  /** `POWERTOOLS_SERVICE_NAME` by default. */
  serviceName?: string;
}

const propagator = new AWSXRayPropagator();

/** The X-Ray header `Root=…;Parent=…;Sampled=…` of a context's span. */
function headerOf(ctx: Context): string | undefined {
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, defaultTextMapSetter);
  return carrier['x-amzn-trace-id'];
}

function contextFromHeader(header: string | undefined): Context | undefined {
  if (!header) return undefined;
  const ctx = propagator.extract(contexts.active(), { 'x-amzn-trace-id': header }, defaultTextMapGetter);
  return trace.getSpan(ctx) ? ctx : undefined;
}

interface EventShape {
  routeKey?: string;
  requestContext?: { http?: { method?: string } };
  Records?: unknown;
}

/** A span's body: `fn` run in it, its failure recorded as the span's error, the span ended either way. */
const settledBy =
  <T>(fn: () => Promise<T>) =>
  async (span: Span): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  };

/**
 * Traces through OpenTelemetry: a span per invocation whose parent is the segment Lambda made (the invocation's
 * `_X_AMZN_TRACE_ID`), a producer span per send and a consumer span per message whose parent is the producer,
 * linked to the consumer's own invocation. Spans go to the X-Ray daemon when the invocation ends.
 */
export function otelTracing(options: OtelTracingOptions = {}): Tracing & { provider: TracerProvider } {
  const env = process.env;
  const serviceName =
    options.serviceName ?? (env.POWERTOOLS_SERVICE_NAME || env.AWS_LAMBDA_FUNCTION_NAME || 'lambda');
  const resource = resourceFromAttributes({
    'service.name': serviceName,
    'cloud.provider': 'aws',
    'cloud.platform': 'aws_lambda',
    ...(env.AWS_REGION ? { 'cloud.region': env.AWS_REGION } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_NAME ? { 'faas.name': env.AWS_LAMBDA_FUNCTION_NAME } : {}),
    ...(env.AWS_LAMBDA_FUNCTION_VERSION ? { 'faas.version': env.AWS_LAMBDA_FUNCTION_VERSION } : {}),
  });
  const processor = new InvocationSpanProcessor(options.exporter ?? new XRayDaemonExporter());
  const provider = new TracerProvider({
    resource,
    idGenerator: new XRayIdGenerator(),
    // Lambda decides whether an invocation is sampled (its header's `Sampled`). In Lambda, an invocation without a
    // header is one Lambda does not trace (no active tracing): nothing is recorded, and no datagram goes to a
    // daemon that is not there. Elsewhere (a local run, a test) a trace may start here.
    sampler: new ParentBasedSampler({
      root:
        env.AWS_LAMBDA_FUNCTION_NAME && env.LAMBDA_TASK_ROOT ? new AlwaysOffSampler() : new AlwaysOnSampler(),
    }),
    spanProcessors: [processor],
  });
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  contexts.setGlobalContextManager(manager);
  const tracer = provider.getTracer('@lambda-infra/shared');

  // The invocation's span and the context it runs in, by Lambda context, from the middleware to the handler.
  const invocations = new WeakMap<object, { span: Span; ctx: Context }>();
  let coldStart = true;
  // The span of the invocation under way (Lambda runs one at a time in a container), for `recordError`.
  let current: Span | undefined;

  const end = async (span: Span | undefined, failed: Error | undefined, statusCode: unknown) => {
    if (!span) return;
    if (current === span) current = undefined;
    if (typeof statusCode === 'number') span.setAttribute('http.response.status_code', statusCode);
    if (failed) {
      span.recordException(failed);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failed.message });
    } else if (typeof statusCode === 'number' && statusCode >= 500) {
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
    // The processor's own flush: the provider's sets a timeout timer on every call.
    await processor.forceFlush();
  };

  return {
    enabled: true,
    provider,
    middleware: {
      before: (request) => {
        const lambda = request.context as LambdaContext;
        // Lambda sets the invocation's trace header in the environment on every invocation.
        const parent = contextFromHeader(env._X_AMZN_TRACE_ID) ?? contexts.active();
        const http = request.event as EventShape | undefined;
        const method = http?.requestContext?.http?.method;
        const span = tracer.startSpan(
          method ? (http?.routeKey ?? method) : lambda.functionName || serviceName,
          {
            kind: Array.isArray(http?.Records) ? SpanKind.CONSUMER : SpanKind.SERVER,
            attributes: {
              'faas.invocation_id': lambda.awsRequestId,
              'faas.coldstart': coldStart,
              ...(lambda.invokedFunctionArn ? { 'cloud.resource_id': lambda.invokedFunctionArn } : {}),
              ...(method ? { 'http.request.method': method } : {}),
            },
          },
          parent,
        );
        coldStart = false;
        current = span;
        invocations.set(lambda, { span, ctx: trace.setSpan(parent, span) });
      },
      after: (request) => {
        const invocation = invocations.get(request.context);
        invocations.delete(request.context);
        return end(invocation?.span, undefined, (request.response as { statusCode?: unknown })?.statusCode);
      },
      // An error a later middleware answered (an HTTP 4xx or 503) closes the span as the answer it became.
      onError: (request) => {
        const invocation = invocations.get(request.context);
        invocations.delete(request.context);
        const answered = request.response as { statusCode?: unknown } | undefined;
        return end(
          invocation?.span,
          answered === undefined ? (request.error ?? undefined) : undefined,
          answered?.statusCode,
        );
      },
    },
    wrapHandler: (handler) => (event, lambda) => {
      const invocation = invocations.get(lambda);
      return invocation
        ? contexts.with(invocation.ctx, handler, undefined, event, lambda)
        : handler(event, lambda);
    },
    // A middleware's onError runs outside the handler's context: the invocation's span is the one to record on.
    recordError: (error) => (trace.getActiveSpan() ?? current)?.recordException(error),
    traceHeader: () => headerOf(contexts.active()),
    producer: (destination, fn) =>
      tracer.startActiveSpan(
        `${destination} send`,
        {
          kind: SpanKind.PRODUCER,
          attributes: { 'messaging.system': 'aws_sqs', 'messaging.destination.name': destination },
        },
        settledBy(fn),
      ),
    consumer: (message, fn) => {
      const invocation = trace.getActiveSpan();
      const parent = contextFromHeader(message.header) ?? contexts.active();
      return tracer.startActiveSpan(
        `${message.source} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'aws_sqs',
            'messaging.destination.name': message.source,
            'messaging.message.id': message.id,
          },
          ...(invocation && parent !== contexts.active()
            ? { links: [{ context: invocation.spanContext() }] }
            : {}),
        },
        parent,
        settledBy(fn),
      );
    },
  };
}
