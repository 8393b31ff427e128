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
}

export interface SsmEndpoint {
  readonly url: string;
  readonly port: number;
  readonly store: ParameterStore;
  /** Requests served, for one operation or all. */
  calls(operation?: string): number;
  resetCalls(): void;
  failNext(fault: InjectedFault): void;
  /** Drops the faults not yet answered. */
  clearFaults(): void;
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
  const faults: InjectedFault[] = [];

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
    calls: (operation) =>
      operation ? (counts.get(operation) ?? 0) : [...counts.values()].reduce((sum, n) => sum + n, 0),
    resetCalls: () => counts.clear(),
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
