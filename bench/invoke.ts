// Runs in a fresh process: imports one bundled handler and invokes it, as the Lambda runtime would.
//   node bench/invoke.ts <bundle> cold          -> import + first invocation
//   node bench/invoke.ts <bundle> warm <count>  -> per-invocation time over <count> warm invocations
//   node bench/invoke.ts <bundle|none> await <count> -> the cost of one await, after a first invocation
import { pathToFileURL } from 'node:url';

const [bundle, mode, countArg] = process.argv.slice(2);

/** ns per `await` of an already settled promise, in an async function, as handler code does all the time. */
async function awaitCost(count: number): Promise<number> {
  const settled = Promise.resolve(1);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) sum += await settled;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) sum += await settled;
  const nanos = ((performance.now() - t0) * 1e6) / count;
  if (sum === 0) throw new Error('unreachable');
  return nanos;
}

if (mode === 'await' && bundle === 'none') {
  process.stderr.write(`BENCH_RESULT ${JSON.stringify({ awaitNanos: await awaitCost(Number(countArg)) })}\n`);
  process.exit(0);
}
// Another request than POST /hello, and the status it must answer: BENCH_EVENT (JSON) and BENCH_STATUS.
const given = process.env.BENCH_EVENT
  ? (JSON.parse(process.env.BENCH_EVENT) as Record<string, unknown>)
  : undefined;
const expected = Number(process.env.BENCH_STATUS ?? 200);
const hello = {
  version: '2.0',
  routeKey: 'POST /hello',
  rawPath: '/hello',
  rawQueryString: '',
  headers: { 'content-type': 'application/json' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'bench',
    domainName: 'bench.example',
    domainPrefix: 'bench',
    http: { method: 'POST', path: '/hello', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
    requestId: 'bench-request',
    routeKey: 'POST /hello',
    stage: '$default',
    time: '',
    timeEpoch: 0,
  },
  body: '{"name":"world"}',
  isBase64Encoded: false,
};
const event = given ? { ...hello, ...given } : hello;
let n = 0;
const context = () => ({
  functionName: 'bench',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bench',
  memoryLimitInMB: '512',
  awsRequestId: `req-${++n}`,
  logGroupName: '/aws/lambda/bench',
  logStreamName: 'bench',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 10_000,
});

const started = performance.now();
const { handler } = await import(pathToFileURL(bundle!).href);
const imported = performance.now();
const first = await handler(event, context());
const invoked = performance.now();
if (first.statusCode !== expected) throw new Error(`the handler answered ${first.statusCode}: ${first.body}`);

const result: Record<string, number> = {
  importMs: imported - started,
  firstInvocationMs: invoked - imported,
  coldMs: invoked - started,
};
if (mode === 'await') result.awaitNanos = await awaitCost(Number(countArg));
if (mode === 'warm') {
  const count = Number(countArg);
  for (let i = 0; i < 2_000; i++) await handler(event, context());
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await handler(event, context());
  result.warmMicros = ((performance.now() - t0) * 1_000) / count;
}
process.stderr.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
