// POST /events served by events-api (createHttpHandler, routes, config, publisher with its breaker) against a
// bare handler doing the same validation and one SendMessage, each bundled as it deploys (events-api on the
// shared layer, laid out beside its packages), each sample a fresh process, against the local SSM endpoint and
// the SQS emulator.
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import { startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { bundle, run, type TaskBundle } from './handler.ts';
import { median } from './median.ts';

const VARIANTS = [
  { key: 'e', name: 'bare: schema + SendMessage', entry: 'bench/handlers/bareEvents.ts', onLayer: false },
  { key: 'd', name: 'events-api', entry: 'functions/events-api/src/handler.ts', onLayer: true },
] as const;
type Key = (typeof VARIANTS)[number]['key'];

const COLD_SAMPLES = Number(process.env.BENCH_COLD_SAMPLES ?? 15);
const WARM_ROUNDS = Number(process.env.BENCH_WARM_ROUNDS ?? 3);
const WARM_INVOCATIONS = Number(process.env.BENCH_EVENTS_WARM_INVOCATIONS ?? 500);

export interface EventsApiBenchResult {
  variants: Record<
    Key,
    { name: string; bundleBytes: number; layerBytes?: number; coldMs: number; warmMicros: number }
  >;
  ratios: { cold: number; warm: number };
}

export async function benchEventsApi(): Promise<EventsApiBenchResult> {
  const [ssm, sqs] = await Promise.all([startSsmEndpoint(), startSqsEmulator()]);
  const client = new SQSClient({
    endpoint: sqs.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
  });
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'bench-events' }));
  client.destroy();
  const event = {
    routeKey: 'POST /events',
    rawPath: '/events',
    requestContext: {
      accountId: '123456789012',
      apiId: 'bench',
      http: {
        method: 'POST',
        path: '/events',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'bench',
      },
      requestId: 'bench-request',
      routeKey: 'POST /events',
      stage: '$default',
    },
    body: JSON.stringify({ type: 'order.placed', source: 'shop', payload: { total: 12, items: ['a', 'b'] } }),
  };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL_SSM: ssm.url,
    AWS_ENDPOINT_URL_SQS: sqs.url,
    AWS_LAMBDA_FUNCTION_NAME: 'events-api',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    POWERTOOLS_SERVICE_NAME: 'events-api',
    POWERTOOLS_METRICS_NAMESPACE: 'bench',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    // Tracing off in both: this row is about the pipeline's work, the tracer's cost is the handler bench's.
    POWERTOOLS_TRACE_ENABLED: 'false',
    LAMBDA_INFRA_ENV: 'bench',
    LAMBDA_INFRA_SERVICE: 'events-api',
    LAMBDA_INFRA_QUEUE_URL: QueueUrl,
    BENCH_EVENT: JSON.stringify(event),
    BENCH_STATUS: '202',
  };

  const bundles = {} as Record<Key, TaskBundle>;
  for (const v of VARIANTS) bundles[v.key] = await bundle(v.entry, `events-${v.key}`, { onLayer: v.onLayer });
  const cold: Record<Key, number[]> = { d: [], e: [] };
  const warm: Record<Key, number[]> = { d: [], e: [] };
  for (let i = 0; i < COLD_SAMPLES; i++) {
    for (const v of VARIANTS) cold[v.key].push((await run(bundles[v.key].file, ['cold'], env)).coldMs!);
  }
  for (let i = 0; i < WARM_ROUNDS; i++) {
    for (const v of VARIANTS) {
      warm[v.key].push((await run(bundles[v.key].file, ['warm', String(WARM_INVOCATIONS)], env)).warmMicros!);
    }
  }
  await Promise.all([ssm.close(), sqs.stop()]);
  const variants = Object.fromEntries(
    VARIANTS.map((v) => [
      v.key,
      {
        name: v.name,
        bundleBytes: bundles[v.key].bytes,
        ...(bundles[v.key].layerBytes ? { layerBytes: bundles[v.key].layerBytes } : {}),
        coldMs: median(cold[v.key]),
        warmMicros: median(warm[v.key]),
      },
    ]),
  ) as EventsApiBenchResult['variants'];
  return {
    variants,
    ratios: {
      cold: variants.d.coldMs / variants.e.coldMs,
      warm: variants.d.warmMicros / variants.e.warmMicros,
    },
  };
}

export function eventsApiTable(result: EventsApiBenchResult): string {
  const rows = (['e', 'd'] as const).map((k) => {
    const v = result.variants[k];
    const size = `${(v.bundleBytes / 1024).toFixed(0)} KiB${v.layerBytes ? ` + layer ${(v.layerBytes / 1024).toFixed(0)} KiB` : ''}`;
    return `| (${k}) ${v.name} | ${size} | ${v.coldMs.toFixed(1)} | ${v.warmMicros.toFixed(0)} |`;
  });
  return [
    '| POST /events | bundle | cold start ms (import + first request) | warm µs/request (SendMessage included) |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Cold: median of ${COLD_SAMPLES} fresh processes each. Warm: median of ${WARM_ROUNDS} processes × ${WARM_INVOCATIONS} requests; tracing off.`,
    `events-api / bare: cold ${result.ratios.cold.toFixed(2)}, warm ${result.ratios.warm.toFixed(2)}`,
  ].join('\n');
}
