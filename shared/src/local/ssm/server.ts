import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ParameterStore, SsmServiceError } from './ParameterStore.ts';

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'AmazonSSM.';
const MAX_BODY_BYTES = 1024 * 1024;

type Operation = (store: ParameterStore, input: Record<string, never>, region: string) => unknown;

const operations: Record<string, Operation> = {
  PutParameter: (store, input) => store.put(input),
  GetParameter: (store, input, region) => store.get(input, region),
  GetParameters: (store, input, region) => store.getMany(input, region),
  GetParametersByPath: (store, input, region) => store.getByPath(input, region),
  DeleteParameter: (store, input) => store.delete(input),
  DeleteParameters: (store, input) => store.deleteMany(input),
  GetParameterHistory: (store, input) => store.history(input),
  LabelParameterVersion: (store, input) => store.label(input),
  DescribeParameters: (store, input, region) => store.describe(input, region),
};

/** Parameter Store's reads, which share one throughput quota per account and region (40 TPS by default). */
const QUOTA_OPERATIONS = new Set(['GetParameter', 'GetParameters', 'GetParametersByPath']);

/**
 * SSM's throughput quota as a token bucket: `tps` tokens a second, holding at most one second's worth (never
 * less than one), each read taking one.
 */
class TokenBucket {
  readonly #tps: number;
  readonly #capacity: number;
  #tokens: number;
  #refilledAt: number;

  constructor(tps: number) {
    this.#tps = tps;
    this.#capacity = Math.max(1, tps);
    this.#tokens = this.#capacity;
    this.#refilledAt = performance.now();
  }

  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#refilledAt) / 1_000) * this.#tps);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The throttle's rate, checked: a positive, finite number of transactions a second. */
function checkThrottleTps(tps: unknown): number {
  if (typeof tps !== 'number' || !Number.isFinite(tps) || tps <= 0) {
    throw new RangeError(
      `throttleTps must be a positive number of transactions a second, got ${String(tps)}`,
    );
  }
  return tps;
}

/** A fault the endpoint answers with instead of doing the work, for tests of what callers do on failure. */
export interface InjectedFault {
  /** How many requests get the fault; default 1. */
  times?: number;
  /** Only requests for this operation; default all. */
  operation?: string;
  code?: string;
  message?: string;
  status?: number;
}

export interface SsmEndpointOptions {
  /** Default 0: a free port. */
  port?: number;
  host?: string;
  store?: ParameterStore;
  region?: string;
  accountId?: string;
  /**
   * Answer GetParameter, GetParameters and GetParametersByPath with `ThrottlingException` (HTTP 400, "Rate
   * exceeded"), as SSM does, once more than this many a second arrive (a token bucket shared by the three, as
   * SSM's quota is). Default: no throttle. SSM's own default is 40.
   */
  throttleTps?: number;
}

export interface SsmEndpoint {
  readonly url: string;
  readonly port: number;
  readonly store: ParameterStore;
  /** Requests received, for one operation or all; those the throttle refused included. */
  calls(operation?: string): number;
  resetCalls(): void;
  failNext(fault: InjectedFault): void;
  /** Drops the faults not yet answered. */
  clearFaults(): void;
  /** Requests answered with `ThrottlingException` by the throttle, for one operation or all. */
  throttled(operation?: string): number;
  /** Sets the throttle's rate (transactions a second), or removes it with `undefined`. */
  setThrottle(tps: number | undefined): void;
  close(): Promise<void>;
}

// The JSON 1.1 protocol carries timestamps as epoch seconds.
function serialize(body: unknown): string {
  return JSON.stringify(body, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : value;
  });
}

function regionOf(request: IncomingMessage, fallback: string): string {
  const match = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/ssm\//.exec(request.headers.authorization ?? '');
  return match?.[1] ?? fallback;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new SsmServiceError('SerializationException', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts an HTTP server that speaks SSM's AWS JSON 1.1 protocol (`X-Amz-Target: AmazonSSM.*`) for the
 * Parameter Store operations, so that the unmodified `@aws-sdk/client-ssm` can use it as its endpoint.
 */
export async function startSsmEndpoint(options: SsmEndpointOptions = {}): Promise<SsmEndpoint> {
  const store =
    options.store ??
    new ParameterStore({
      ...(options.region ? { region: options.region } : {}),
      ...(options.accountId ? { accountId: options.accountId } : {}),
    });
  const counts = new Map<string, number>();
  const throttledCounts = new Map<string, number>();
  const faults: InjectedFault[] = [];
  let bucket =
    options.throttleTps === undefined ? undefined : new TokenBucket(checkThrottleTps(options.throttleTps));
  const sum = (map: Map<string, number>, operation?: string) =>
    operation ? (map.get(operation) ?? 0) : [...map.values()].reduce((total, n) => total + n, 0);

  const send = (response: ServerResponse, status: number, body: unknown) => {
    const text = serialize(body);
    response.writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    response.end(text);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    if (request.method !== 'POST' || !operation) {
      send(response, 400, { __type: 'UnknownOperationException' });
      return;
    }
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    try {
      const raw = await readBody(request);
      const fault = faults.find((f) => !f.operation || f.operation === operation);
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
        send(response, fault.status ?? 400, {
          __type: fault.code ?? 'ThrottlingException',
          message: fault.message ?? 'Rate exceeded',
        });
        return;
      }
      if (bucket && QUOTA_OPERATIONS.has(operation) && !bucket.take()) {
        throttledCounts.set(operation, (throttledCounts.get(operation) ?? 0) + 1);
        send(response, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
        return;
      }
      const run = operations[operation];
      if (!run) {
        send(response, 400, { __type: 'UnknownOperationException' });
        return;
      }
      let input: Record<string, never>;
      try {
        input = raw.length === 0 ? {} : JSON.parse(raw);
      } catch {
        throw new SsmServiceError(
          'SerializationException',
          'Start of structure or map found where not expected.',
        );
      }
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        throw new SsmServiceError(
          'SerializationException',
          'Start of structure or map found where not expected.',
        );
      }
      send(response, 200, run(store, input, regionOf(request, store.region)));
    } catch (error) {
      if (error instanceof SsmServiceError) {
        send(response, 400, { __type: error.code, message: error.message });
      } else {
        send(response, 500, { __type: 'InternalServerError', message: String((error as Error).message) });
      }
    }
  };

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    port,
    store,
    calls: (operation) => sum(counts, operation),
    throttled: (operation) => sum(throttledCounts, operation),
    resetCalls: () => {
      counts.clear();
      throttledCounts.clear();
    },
    setThrottle: (tps) => {
      bucket = tps === undefined ? undefined : new TokenBucket(checkThrottleTps(tps));
    },
    clearFaults: () => {
      faults.length = 0;
    },
    failNext: (fault) => {
      faults.push({ ...fault, times: fault.times ?? 1 });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
