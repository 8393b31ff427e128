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

export interface HandlerBenchResult {
  variants: Record<
    Key,
    {
      name: string;
      bundleBytes: number;
      layerBytes?: number;
      coldMs: number;
      importMs: number;
      warmMicros: number;
      warmUntracedMicros: number;
    }
  >;
  ratios: {
    coldCoverB: number;
    coldCoverA: number;
    warmOverheadCoverAMicros: number;
    warmOverheadCoverBMicros: number;
    warmUntracedOverheadCoverAMicros: number;
  };
}

export async function benchHandler(): Promise<HandlerBenchResult> {
  await mkdir(OUT_DIR, { recursive: true });
  const endpoint = await startSsmEndpoint();
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

  // A Lambda-like environment: tracing on (segments go to a daemon address on loopback), metrics and logs to stdout.
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
    AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
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

  const cold: Record<Key, { coldMs: number[]; importMs: number[] }> = {
    a: { coldMs: [], importMs: [] },
    b: { coldMs: [], importMs: [] },
    c: { coldMs: [], importMs: [] },
  };
  // Interleaved, so that drift on the machine falls on every variant alike.
  for (let i = 0; i < COLD_SAMPLES; i++) {
    for (const v of VARIANTS) {
      const r = await run(bundles[v.key].file, ['cold'], env);
      cold[v.key].coldMs.push(r.coldMs!);
      cold[v.key].importMs.push(r.importMs!);
    }
  }
  // Warm cost with active tracing, as deployed, and without: the X-Ray SDK's own per-invocation work
  // (a subsegment and a UDP send) is most of what (b) and (c) pay, so both are shown.
  const untraced = { ...env, POWERTOOLS_TRACE_ENABLED: 'false' };
  const warm: Record<Key, number[]> = { a: [], b: [], c: [] };
  const warmUntraced: Record<Key, number[]> = { a: [], b: [], c: [] };
  for (let i = 0; i < WARM_ROUNDS; i++) {
    for (const v of VARIANTS) {
      warm[v.key].push((await run(bundles[v.key].file, ['warm', String(WARM_INVOCATIONS)], env)).warmMicros!);
      warmUntraced[v.key].push(
        (await run(bundles[v.key].file, ['warm', String(WARM_INVOCATIONS)], untraced)).warmMicros!,
      );
    }
  }
  await endpoint.close();

  const variants = Object.fromEntries(
    VARIANTS.map((v) => [
      v.key,
      {
        name: v.name,
        bundleBytes: bundles[v.key].bytes,
        ...(bundles[v.key].layerBytes ? { layerBytes: bundles[v.key].layerBytes } : {}),
        coldMs: median(cold[v.key].coldMs),
        importMs: median(cold[v.key].importMs),
        warmMicros: median(warm[v.key]),
        warmUntracedMicros: median(warmUntraced[v.key]),
      },
    ]),
  ) as HandlerBenchResult['variants'];
  return {
    variants,
    ratios: {
      coldCoverB: variants.c.coldMs / variants.b.coldMs,
      coldCoverA: variants.c.coldMs / variants.a.coldMs,
      warmOverheadCoverAMicros: variants.c.warmMicros - variants.a.warmMicros,
      warmOverheadCoverBMicros: variants.c.warmMicros - variants.b.warmMicros,
      warmUntracedOverheadCoverAMicros: variants.c.warmUntracedMicros - variants.a.warmUntracedMicros,
    },
  };
}

export function handlerTable(result: HandlerBenchResult): string {
  const rows = (['a', 'b', 'c'] as const).map((k) => {
    const v = result.variants[k];
    const size = `${(v.bundleBytes / 1024).toFixed(0)} KiB${v.layerBytes ? ` + layer ${(v.layerBytes / 1024).toFixed(0)} KiB` : ''}`;
    return `| (${k}) ${v.name} | ${size} | ${v.importMs.toFixed(1)} | ${v.coldMs.toFixed(1)} | ${v.warmMicros.toFixed(1)} | ${v.warmUntracedMicros.toFixed(1)} |`;
  });
  const r = result.ratios;
  return [
    `| handler | bundle | import ms | cold start ms (import + first invocation) | warm µs/invocation, tracing on | warm µs/invocation, tracing off |`,
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Cold: median of ${COLD_SAMPLES} fresh processes each. Warm: median of ${WARM_ROUNDS} processes × ${WARM_INVOCATIONS} invocations.`,
    `cold start c/b = ${r.coldCoverB.toFixed(3)} (goal ≤ 1.05); c/a = ${r.coldCoverA.toFixed(2)}`,
    `warm overhead of (c) over (a): ${r.warmOverheadCoverAMicros.toFixed(1)} µs with tracing on, ${r.warmUntracedOverheadCoverAMicros.toFixed(1)} µs with tracing off (goal < 30 µs); (c) over (b): ${r.warmOverheadCoverBMicros.toFixed(1)} µs`,
  ].join('\n');
}
