// npm run bench fleet: N simulated Lambda containers of events-worker cold-starting within a window against the
// local SSM endpoint throttled as SSM is (40 TPS), a redis-server and a PostgreSQL of the run's own, with the
// config shared through Redis and without it, side by side. Each container is independent instances of the
// library's clients (bench/fleetContainers.ts), a few processes holding them.
//
// FLEET_SIZES=100,1000 (the default) sets N; FLEET_WINDOW_MS (10000), FLEET_TPS (40), FLEET_PROCESSES (4).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { type SsmEndpoint, startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { createClient } from '@redis/client';
import pg from 'pg';
import { postgresServer, redisServer } from '../test/support/servers.ts';
import type { ContainerOutcome, FleetPlan } from './fleetContainers.ts';
import { percentile } from './median.ts';

export interface FleetOptions {
  sizes: number[];
  windowMs: number;
  /** How long containers keep being invoked after the window closes, ms. */
  tailMs: number;
  tps: number;
  processes: number;
}

export interface FleetRow {
  containers: number;
  sharedConfig: boolean;
  failedColdStarts: number;
  /** Cold-start failures by component, type and code. */
  failures: Record<string, number>;
  ssm: { getParametersByPath: number; getParameters: number; throttled: number };
  firstAnswerMs: { p50: number; p99: number; max: number };
  redis: {
    connectionsPeak: number;
    connectionsOpened: number;
    /** As Redis counts them: the commands a script runs included. */
    commandsPerSecond: number;
    peakCommandsPerSecond: number;
    /** EVAL calls a second: the circuit's syncs and the load locks. */
    scriptsPerSecond: number;
    /** Calls by command over the run, the most frequent first. */
    commands: Record<string, number>;
  };
  postgres: { connectionsPeak: number };
  warm: { invocations: number; failures: number };
}

export interface FleetResult {
  options: FleetOptions;
  rows: FleetRow[];
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

export function fleetOptionsFromEnvironment(): FleetOptions {
  const sizes = (process.env.FLEET_SIZES ?? '100,1000').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`FLEET_SIZES takes whole numbers, got ${s}`);
    return n;
  });
  return {
    sizes,
    windowMs: envNumber('FLEET_WINDOW_MS', 10_000),
    tailMs: envNumber('FLEET_TAIL_MS', 5_000),
    tps: envNumber('FLEET_TPS', 40),
    processes: envNumber('FLEET_PROCESSES', 4),
  };
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** The events-worker's config as prod deploys it (infra/config/prod), with a 60 s TTL: db, cache and breaker take their defaults. */
async function seed(endpoint: SsmEndpoint, env: string, service: string): Promise<void> {
  const client = new SSMClient({
    endpoint: endpoint.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const deployed = await readConfigFolder(fileURLToPath(new URL('../infra/config', import.meta.url)), {
    env: 'prod',
    service: 'events-worker',
  });
  const entries = [
    ...deployed,
    { component: 'config', secure: false, value: { ttlSeconds: 60, retryAfterSeconds: 10 } },
  ];
  for (const entry of entries) {
    await client.send(
      new PutParameterCommand({
        Name: `/config/${env}/${service}/${entry.component}`,
        Value: JSON.stringify(entry.value),
        Type: entry.secure ? 'SecureString' : 'String',
        Overwrite: true,
      }),
    );
  }
  client.destroy();
}

function startProcess(plan: FleetPlan): {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<ContainerOutcome[]>;
} {
  const child = spawn(
    process.execPath,
    [new URL('./fleetContainers.ts', import.meta.url).pathname, JSON.stringify(plan)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
    },
  );
  let output = '';
  let readyResolve: () => void;
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.startsWith('ready\n')) readyResolve();
  });
  const done = new Promise<ContainerOutcome[]>((resolve, reject) => {
    child.once('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('['));
      if (code !== 0 || !line) reject(new Error(`a fleet process exited ${code}: ${output.slice(0, 500)}`));
      else resolve(JSON.parse(line) as ContainerOutcome[]);
    });
  });
  return { child, ready, done };
}

/** One run: N containers, their start times spread evenly at random over the window. */
export async function runFleet(
  containers: number,
  sharedConfig: boolean,
  options: FleetOptions,
  servers: { redis: { url: string }; postgres: { url: string } },
): Promise<FleetRow> {
  const endpoint = await startSsmEndpoint();
  const env = 'bench';
  const service = `fleet-${randomUUID().slice(0, 8)}`;
  await seed(endpoint, env, service);
  endpoint.setThrottle(options.tps);
  endpoint.resetCalls();

  const starts = Array.from({ length: containers }, () => Math.random() * options.windowMs).sort(
    (a, b) => a - b,
  );
  const share = Math.ceil(containers / options.processes);
  const runMs = options.windowMs + options.tailMs;
  const processes = [];
  for (let i = 0; i < containers; i += share) {
    processes.push(
      startProcess({
        starts: starts.slice(i, i + share),
        runMs,
        ssmUrl: endpoint.url,
        redisUrl: servers.redis.url,
        pgUrl: servers.postgres.url,
        env,
        service,
        shared: sharedConfig,
      }),
    );
  }
  await Promise.all(processes.map((p) => p.ready));

  const redis = createClient({ url: servers.redis.url });
  await redis.connect();
  await redis.sendCommand(['CONFIG', 'RESETSTAT']);
  const pgClient = new pg.Client({ connectionString: servers.postgres.url });
  await pgClient.connect();
  let connectionsPeak = 0;
  let pgPeak = 0;
  let peakCommandsPerSecond = 0;
  let last = { at: performance.now(), commands: 0 };
  const samples: number[] = [];
  const sample = async () => {
    const info = parseInfo(String(await redis.sendCommand(['INFO', 'everything'])));
    // Less the bench's own connection.
    connectionsPeak = Math.max(connectionsPeak, Number(info.get('connected_clients')) - 1);
    const commands = Number(info.get('total_commands_processed'));
    const at = performance.now();
    if (at - last.at >= 900) {
      peakCommandsPerSecond = Math.max(
        peakCommandsPerSecond,
        ((commands - last.commands) * 1_000) / (at - last.at),
      );
      last = { at, commands };
    }
    const { rows } = await pgClient.query<{ n: string }>(
      "select count(*) as n from pg_stat_activity where backend_type = 'client backend'",
    );
    pgPeak = Math.max(pgPeak, Number(rows[0]?.n ?? 0) - 1);
    samples.push(at);
  };
  const t0 = Date.now() + 200;
  for (const p of processes) p.child.stdin!.end(`${t0}\n`);
  const started = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sample().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  const outcomes = (await Promise.all(processes.map((p) => p.done))).flat();
  const elapsed = performance.now() - started;
  sampling = false;
  await sampler;

  const info = parseInfo(String(await redis.sendCommand(['INFO', 'everything'])));
  const commands: Record<string, number> = {};
  for (const [key, value] of info) {
    if (!key.startsWith('cmdstat_')) continue;
    const calls = Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
    const name = key.slice('cmdstat_'.length);
    if (!/^(info|config|client)/.test(name)) commands[name] = calls;
  }
  const total = Object.values(commands).reduce((sum, n) => sum + n, 0);
  const opened = Number(info.get('total_connections_received'));
  redis.destroy();
  await pgClient.end();
  await endpoint.close();

  const failures: Record<string, number> = {};
  for (const o of outcomes) if (o.error) failures[o.error] = (failures[o.error] ?? 0) + 1;
  const times = outcomes
    .map((o) => o.firstAnswerMs)
    .filter((t): t is number => t !== undefined)
    .sort((a, b) => a - b);
  return {
    containers,
    sharedConfig,
    failedColdStarts: outcomes.filter((o) => o.error).length,
    failures,
    ssm: {
      getParametersByPath: endpoint.calls('GetParametersByPath'),
      getParameters: endpoint.calls('GetParameters'),
      throttled: endpoint.throttled(),
    },
    firstAnswerMs: {
      p50: Math.round(percentile(times, 50)),
      p99: Math.round(percentile(times, 99)),
      max: Math.round(times.at(-1) ?? Number.NaN),
    },
    redis: {
      connectionsPeak,
      connectionsOpened: opened,
      commandsPerSecond: Math.round((total * 1_000) / elapsed),
      peakCommandsPerSecond: Math.round(peakCommandsPerSecond),
      scriptsPerSecond: Math.round((((commands.eval ?? 0) + (commands.evalsha ?? 0)) * 1_000) / elapsed),
      commands: Object.fromEntries(Object.entries(commands).sort((a, b) => b[1] - a[1])),
    },
    postgres: { connectionsPeak: pgPeak },
    warm: {
      invocations: outcomes.reduce((sum, o) => sum + o.warmInvocations, 0),
      failures: outcomes.reduce((sum, o) => sum + o.warmFailures, 0),
    },
  };
}

export async function benchFleet(
  options: FleetOptions = fleetOptionsFromEnvironment(),
): Promise<FleetResult> {
  const largest = Math.max(...options.sizes);
  const postgres = await postgresServer({ maxConnections: largest + 50 });
  await postgres.start();
  const rows: FleetRow[] = [];
  try {
    for (const containers of options.sizes) {
      for (const sharedConfig of [true, false]) {
        // A fresh Redis each run: its counters and connections are that run's alone.
        const redis = await redisServer();
        await redis.start();
        try {
          const row = await runFleet(containers, sharedConfig, options, { redis, postgres });
          rows.push(row);
          console.log(
            `N=${containers} ${sharedConfig ? 'shared' : 'per container'}: ${row.failedColdStarts} failed, ${row.ssm.getParametersByPath} GetParametersByPath (${row.ssm.throttled} throttled), p99 ${row.firstAnswerMs.p99} ms`,
          );
        } finally {
          await redis.dispose();
        }
      }
    }
  } finally {
    await postgres.dispose();
  }
  return { options, rows };
}

export function fleetTable(result: FleetResult): string {
  const { options } = result;
  const lines = [
    `${options.windowMs / 1_000} s window, SSM throttled at ${options.tps} TPS, ${options.processes} processes`,
    '',
    '| containers | config | failed cold starts | SSM calls (throttled answers) | first answer p50 / p99 | Redis connections peak (opened) | Redis commands/s mean (peak); scripts/s | PostgreSQL connections peak |',
    '|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of result.rows) {
    const ssmCalls = row.ssm.getParametersByPath + row.ssm.getParameters;
    lines.push(
      `| ${row.containers} | ${row.sharedConfig ? 'shared through Redis' : 'per container'} | ${row.failedColdStarts} | ${ssmCalls} (${row.ssm.throttled}) | ${row.firstAnswerMs.p50} / ${row.firstAnswerMs.p99} ms | ${row.redis.connectionsPeak} (${row.redis.connectionsOpened}) | ${row.redis.commandsPerSecond} (${row.redis.peakCommandsPerSecond}); ${row.redis.scriptsPerSecond} | ${row.postgres.connectionsPeak} |`,
    );
  }
  const failing = result.rows.filter((r) => r.failedColdStarts > 0);
  if (failing.length > 0) {
    lines.push('', 'Cold-start failures:');
    for (const row of failing) {
      const why = Object.entries(row.failures)
        .map(([reason, n]) => `${n} × ${reason}`)
        .join(', ');
      lines.push(`- N=${row.containers}, ${row.sharedConfig ? 'shared' : 'per container'}: ${why}`);
    }
  }
  const top = result.rows.at(-2) ?? result.rows[0];
  if (top) {
    const commands = Object.entries(top.redis.commands)
      .slice(0, 6)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
    lines.push('', `Redis commands over the N=${top.containers} shared run: ${commands}.`);
  }
  return lines.join('\n');
}
