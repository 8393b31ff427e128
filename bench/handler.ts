// Cold start and warm per-invocation cost of the same HTTP handler written three ways:
//   (a) bare: the SDK called directly;  (b) Powertools + middy;  (c) createHttpHandler + defineConfig.
// All three are bundled as they deploy (infra/lib/bundling.ts's function settings; (c) on the shared layer, laid out
// beside its packages) and each sample runs in a fresh process against the local SSM endpoint.
import { spawn } from 'node:child_process';
import { mkdir, rm, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { build } from 'esbuild';
import { bundleLayer, functionBuildOptions } from '../infra/lib/bundling.ts';
import { median } from './median.ts';

const VARIANTS = [
  { key: 'a', name: 'bare handler, SDK directly', entry: 'bench/handlers/bare.ts', onLayer: false },
  { key: 'b', name: 'Powertools + middy', entry: 'bench/handlers/powertools.ts', onLayer: false },
  {
    key: 'c',
    name: 'createHttpHandler + defineConfig',
    entry: 'bench/handlers/lambdaInfra.ts',
    onLayer: true,
  },
] as const;
type Key = (typeof VARIANTS)[number]['key'];

const COLD_SAMPLES = Number(process.env.BENCH_COLD_SAMPLES ?? 21);
const WARM_ROUNDS = Number(process.env.BENCH_WARM_ROUNDS ?? 5);
const WARM_INVOCATIONS = Number(process.env.BENCH_WARM_INVOCATIONS ?? 20_000);
const OUT_DIR = resolve('bench/.build');

/** A bundle laid out as Lambda runs it: `index.mjs`, and for a function on the layer, the layer's packages beside it. */
export interface TaskBundle {
  file: string;
  /** The function's own bundle. */
  bytes: number;
  /** The layer's, for a function on it. */
  layerBytes?: number;
}

/**
 * `entry` bundled as it deploys (`functionBuildOptions`, the settings NodejsFunction gets from `ServiceFunction`): on
 * the layer, `@lambda-infra/shared`, zod and kysely stay out and the layer's `node_modules` is laid beside it, as
 * /opt/nodejs/node_modules is; off it, they go in. The SDK is the runtime's in both, loaded unbundled from
 * node_modules as the Lambda runtime loads its own.
 */
export async function bundle(entry: string, key: string, options: { onLayer: boolean }): Promise<TaskBundle> {
  const task = join(OUT_DIR, key);
  await rm(task, { recursive: true, force: true });
  await mkdir(task, { recursive: true });
  const file = join(task, 'index.mjs');
  await build({ ...functionBuildOptions(options), entryPoints: [entry], outfile: file });
  const bytes = (await stat(file)).size;
  if (!options.onLayer) return { file, bytes };
  const layer = await bundleLayer();
  await symlink(join(layer.dir, 'nodejs/node_modules'), join(task, 'node_modules'), 'dir');
  return { file, bytes, layerBytes: layer.bytes };
}

export function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, number>> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['bench/invoke.ts', file, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => {
      const line = stderr.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code !== 0 || !line) fail(new Error(`${file} ${args.join(' ')} exited ${code}:\n${stderr}`));
      else done(JSON.parse(line.slice('BENCH_RESULT '.length)));
    });
  });
}

/**
 * Each handler with each way it can trace, all in one run: (a) has no tracer; (b) traces through the Powertools
 * Tracer (X-Ray SDK) or not at all; (c) through either back end of `tracing`, or not at all.
 */
const CONFIGS = [
  { id: 'a', variant: 'a', tracing: 'none', env: {} },
  { id: 'b-off', variant: 'b', tracing: 'off', env: { POWERTOOLS_TRACE_ENABLED: 'false' } },
  { id: 'b-xray', variant: 'b', tracing: 'X-Ray SDK', env: {} },
  { id: 'c-off', variant: 'c', tracing: 'off', env: { LAMBDA_INFRA_TRACING: 'off' } },
  { id: 'c-xray', variant: 'c', tracing: 'X-Ray SDK', env: { LAMBDA_INFRA_TRACING: 'xray' } },
  { id: 'c-otel', variant: 'c', tracing: 'OpenTelemetry', env: { LAMBDA_INFRA_TRACING: 'otel' } },
] as const;
type ConfigId = (typeof CONFIGS)[number]['id'];

/** The cost of one `await` in a process that has loaded nothing, and in one that has loaded (c) with each back end. */
const AWAIT_CONFIGS = [
  { id: 'none', label: 'nothing loaded', env: {} },
  { id: 'c-off', label: '(c), tracing off', env: { LAMBDA_INFRA_TRACING: 'off' } },
  { id: 'c-otel', label: '(c), OpenTelemetry', env: { LAMBDA_INFRA_TRACING: 'otel' } },
  { id: 'c-xray', label: '(c), X-Ray SDK', env: { LAMBDA_INFRA_TRACING: 'xray' } },
] as const;
const AWAITS = Number(process.env.BENCH_AWAITS ?? 2_000_000);

export interface HandlerBenchResult {
  variants: Record<Key, { name: string; bundleBytes: number; layerBytes?: number }>;
  configs: Record<
    ConfigId,
    {
      variant: Key;
      tracing: string;
      importMs: number;
      firstInvocationMs: number;
      coldMs: number;
      warmMicros: number;
    }
  >;
  awaitNanos: Record<(typeof AWAIT_CONFIGS)[number]['id'], number>;
  ratios: {
    /** (c) untraced over (a). Goal ≤ 1.0. */
    coldCoffOverA: number;
    /** (c) with OpenTelemetry over (a). */
    coldCotelOverA: number;
    /** (c) over (b), each traced as deployed: OpenTelemetry for (c), the X-Ray SDK for (b). Goal ≤ 0.8. */
    coldCotelOverBxray: number;
    /** (c) over (b), both untraced. */
    coldCoffOverBoff: number;
    /** Warm µs over (a): (c) untraced (goal < 10), with OpenTelemetry (goal < 15), with the X-Ray SDK. */
    warmCoffOverAMicros: number;
    warmCotelOverAMicros: number;
    warmCxrayOverAMicros: number;
    /** An await with (c) loaded over one with nothing loaded. Goal 1.0. */
    awaitCoffOverNone: number;
    awaitCotelOverNone: number;
    awaitCxrayOverNone: number;
  };
}

/** A UDP socket on a free loopback port that takes what the tracers send to their daemon, and counts it. */
async function daemonSink(): Promise<{ address: string; datagrams: () => number; close: () => void }> {
  const { createSocket } = await import('node:dgram');
  const socket = createSocket('udp4');
  let count = 0;
  socket.on('message', () => {
    count++;
  });
  await new Promise<void>((ready) => socket.bind(0, '127.0.0.1', ready));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    datagrams: () => count,
    close: () => socket.close(),
  };
}

export async function benchHandler(): Promise<HandlerBenchResult> {
  await mkdir(OUT_DIR, { recursive: true });
  const endpoint = await startSsmEndpoint();
  const daemon = await daemonSink();
  const ssm = new SSMClient({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
  });
  await ssm.send(
    new PutParameterCommand({
      Name: '/config/bench/hello/http',
      Value: '{"greeting":"hello"}',
      Type: 'String',
    }),
  );
  ssm.destroy();

  // A Lambda-like environment: a sampled invocation, spans and segments to a daemon on loopback, metrics and logs
  // to stdout.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL_SSM: endpoint.url,
    AWS_LAMBDA_FUNCTION_NAME: 'bench',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    // The X-Ray SDK builds its Lambda facade segment from _X_AMZN_TRACE_ID only where this is set, as in Lambda.
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_XRAY_DAEMON_ADDRESS: daemon.address,
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
    _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    POWERTOOLS_SERVICE_NAME: 'hello',
    POWERTOOLS_METRICS_NAMESPACE: 'bench',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    LAMBDA_INFRA_ENV: 'bench',
    LAMBDA_INFRA_SERVICE: 'hello',
  };

  const bundles = {} as Record<Key, TaskBundle>;
  for (const v of VARIANTS) bundles[v.key] = await bundle(v.entry, v.key, { onLayer: v.onLayer });

  const samples = Object.fromEntries(
    CONFIGS.map((c) => [c.id, { importMs: [], firstInvocationMs: [], coldMs: [], warmMicros: [] }]),
  ) as unknown as Record<
    ConfigId,
    Record<'importMs' | 'firstInvocationMs' | 'coldMs' | 'warmMicros', number[]>
  >;
  // Interleaved, so that drift on the machine falls on every configuration alike.
  for (let i = 0; i < COLD_SAMPLES; i++) {
    for (const c of CONFIGS) {
      const r = await run(bundles[c.variant].file, ['cold'], { ...env, ...c.env });
      samples[c.id].importMs.push(r.importMs!);
      samples[c.id].firstInvocationMs.push(r.firstInvocationMs!);
      samples[c.id].coldMs.push(r.coldMs!);
    }
  }
  for (let i = 0; i < WARM_ROUNDS; i++) {
    for (const c of CONFIGS) {
      const r = await run(bundles[c.variant].file, ['warm', String(WARM_INVOCATIONS)], { ...env, ...c.env });
      samples[c.id].warmMicros.push(r.warmMicros!);
    }
  }
  const awaits = Object.fromEntries(AWAIT_CONFIGS.map((c) => [c.id, [] as number[]])) as Record<
    (typeof AWAIT_CONFIGS)[number]['id'],
    number[]
  >;
  for (let i = 0; i < WARM_ROUNDS; i++) {
    for (const c of AWAIT_CONFIGS) {
      const file = c.id === 'none' ? 'none' : bundles.c.file;
      awaits[c.id].push((await run(file, ['await', String(AWAITS)], { ...env, ...c.env })).awaitNanos!);
    }
  }
  await endpoint.close();
  if (daemon.datagrams() === 0)
    throw new Error('no tracer sent the daemon anything: the traced runs traced nothing');
  daemon.close();

  const configs = Object.fromEntries(
    CONFIGS.map((c) => [
      c.id,
      {
        variant: c.variant,
        tracing: c.tracing,
        importMs: median(samples[c.id].importMs),
        firstInvocationMs: median(samples[c.id].firstInvocationMs),
        coldMs: median(samples[c.id].coldMs),
        warmMicros: median(samples[c.id].warmMicros),
      },
    ]),
  ) as HandlerBenchResult['configs'];
  const awaitNanos = Object.fromEntries(
    AWAIT_CONFIGS.map((c) => [c.id, median(awaits[c.id])]),
  ) as HandlerBenchResult['awaitNanos'];
  const variants = Object.fromEntries(
    VARIANTS.map((v) => [
      v.key,
      {
        name: v.name,
        bundleBytes: bundles[v.key].bytes,
        ...(bundles[v.key].layerBytes ? { layerBytes: bundles[v.key].layerBytes } : {}),
      },
    ]),
  ) as HandlerBenchResult['variants'];
  return {
    variants,
    configs,
    awaitNanos,
    ratios: {
      coldCoffOverA: configs['c-off'].coldMs / configs.a.coldMs,
      coldCotelOverA: configs['c-otel'].coldMs / configs.a.coldMs,
      coldCotelOverBxray: configs['c-otel'].coldMs / configs['b-xray'].coldMs,
      coldCoffOverBoff: configs['c-off'].coldMs / configs['b-off'].coldMs,
      warmCoffOverAMicros: configs['c-off'].warmMicros - configs.a.warmMicros,
      warmCotelOverAMicros: configs['c-otel'].warmMicros - configs.a.warmMicros,
      warmCxrayOverAMicros: configs['c-xray'].warmMicros - configs.a.warmMicros,
      awaitCoffOverNone: awaitNanos['c-off'] / awaitNanos.none,
      awaitCotelOverNone: awaitNanos['c-otel'] / awaitNanos.none,
      awaitCxrayOverNone: awaitNanos['c-xray'] / awaitNanos.none,
    },
  };
}

export function handlerTable(result: HandlerBenchResult): string {
  const sizes = (['a', 'b', 'c'] as const).map((k) => {
    const v = result.variants[k];
    return `(${k}) ${v.name}: ${(v.bundleBytes / 1024).toFixed(0)} KiB${v.layerBytes ? ` + layer ${(v.layerBytes / 1024).toFixed(0)} KiB` : ''}`;
  });
  const rows = CONFIGS.map((c) => {
    const r = result.configs[c.id];
    return `| (${c.variant}) ${result.variants[c.variant].name} | ${c.tracing} | ${r.importMs.toFixed(1)} | ${r.firstInvocationMs.toFixed(1)} | ${r.coldMs.toFixed(1)} | ${r.warmMicros.toFixed(1)} |`;
  });
  const awaits = AWAIT_CONFIGS.map((c) => `${c.label} ${result.awaitNanos[c.id].toFixed(0)} ns`);
  const r = result.ratios;
  return [
    '| handler | tracing | import ms | first invocation ms | cold start ms | warm µs/invocation |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Bundles: ${sizes.join('; ')}.`,
    `Cold: median of ${COLD_SAMPLES} fresh processes each. Warm: median of ${WARM_ROUNDS} processes × ${WARM_INVOCATIONS} invocations. Traced runs are sampled and send to a daemon socket on loopback.`,
    `cold start (c) over (a): ${r.coldCoffOverA.toFixed(3)} untraced (goal ≤ 1.0), ${r.coldCotelOverA.toFixed(3)} with OpenTelemetry`,
    `cold start (c) over (b): ${r.coldCotelOverBxray.toFixed(3)} each traced as deployed (OpenTelemetry against the X-Ray SDK; goal ≤ 0.8), ${r.coldCoffOverBoff.toFixed(3)} both untraced`,
    `warm overhead of (c) over (a): ${r.warmCoffOverAMicros.toFixed(1)} µs untraced (goal < 10), ${r.warmCotelOverAMicros.toFixed(1)} µs with OpenTelemetry (goal < 15), ${r.warmCxrayOverAMicros.toFixed(1)} µs with the X-Ray SDK`,
    `one await (median of ${WARM_ROUNDS} processes × ${AWAITS}): ${awaits.join(', ')}; over nothing loaded: ${r.awaitCoffOverNone.toFixed(2)} untraced, ${r.awaitCotelOverNone.toFixed(2)} OpenTelemetry (goal 1.0 for both), ${r.awaitCxrayOverNone.toFixed(2)} X-Ray SDK`,
  ].join('\n');
}
