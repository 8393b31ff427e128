// One process of the fleet benchmark: a share of the simulated containers. Each is what a Lambda container of
// events-worker holds (its own SSM client, config source, cache, shared circuit and database pool), made
// at its start time, cold-started by its first invocation, then invoked once a second until the run ends.
// Started by bench/fleet.ts with its plan as JSON in argv[2]; says `ready` once loaded, takes the window's
// opening (epoch ms) on stdin, and prints one JSON line of outcomes.
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  breakerConfigDefaults,
  breakerConfigSchema,
  createConfiguredBreaker,
  redisStore,
} from '@lambda-infra/shared/breaker';
import { cacheConfigDefaults, cacheConfigSchema, createCache } from '@lambda-infra/shared/cache';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import { createDb, dbConfigDefaults, dbConfigSchema, dbOptionsFromUrl, sql } from '@lambda-infra/shared/db';
import { classifyError } from '@lambda-infra/shared/errors';

export interface FleetPlan {
  /** Each container's start, in ms after the window opens. */
  starts: number[];
  /** How long after the window opens containers are invoked, ms. */
  runMs: number;
  ssmUrl: string;
  redisUrl: string;
  pgUrl: string;
  env: string;
  service: string;
  shared: boolean;
}

export interface ContainerOutcome {
  /** Start to the first invocation's answer, ms; absent when the cold start failed. */
  firstAnswerMs?: number;
  /** The cold start's error: type and code. */
  error?: string;
  warmInvocations: number;
  warmFailures: number;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as FleetPlan;
process.stdout.write('ready\n');
const t0 = await new Promise<number>((resolve) => {
  process.stdin.once('data', (chunk) => resolve(Number(String(chunk).trim())));
});
process.stdin.pause();
const until = t0 + plan.runMs;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function container(startAt: number): Promise<ContainerOutcome> {
  await sleep(t0 + startAt - Date.now());
  const started = performance.now();
  const ssm = new SSMClient({
    endpoint: plan.ssmUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
    maxAttempts: 3,
  });
  // As in a function: the config shares through the cache the bindings name, or, without, reads SSM alone.
  const source = new ConfigSource({
    env: plan.env,
    service: plan.service,
    client: ssm,
    environment: plan.shared ? { LAMBDA_INFRA_CACHE_URL: plan.redisUrl } : {},
  });
  const cacheConfig = defineConfig({
    component: 'cache',
    schema: cacheConfigSchema,
    defaults: cacheConfigDefaults,
    source,
  });
  const dbConfig = defineConfig({
    component: 'db',
    schema: dbConfigSchema,
    defaults: dbConfigDefaults,
    source,
  });
  const breakerConfig = defineConfig({
    component: 'breaker',
    schema: breakerConfigSchema,
    defaults: breakerConfigDefaults,
    source,
  });
  const outcome: ContainerOutcome = { warmInvocations: 0, warmFailures: 0 };
  let close = async () => {
    ssm.destroy();
    await source.close();
  };
  try {
    // The first invocation: config, then the clients made from it, then the work of one message.
    const [cacheSettings, dbSettings] = await Promise.all([cacheConfig.get(), dbConfig.get()]);
    const cache = createCache({
      url: plan.redisUrl,
      namespace: `${plan.env}:events:`,
      commandTimeoutMs: cacheSettings.commandTimeoutMs,
      connectTimeoutMs: cacheSettings.connectTimeoutMs,
    });
    const db = createDb(dbOptionsFromUrl(plan.pgUrl, { ...dbSettings, poolMax: 1 }));
    const breaker = await createConfiguredBreaker({
      name: 'events-db',
      config: breakerConfig,
      store: redisStore(cache),
    });
    const previous = close;
    close = async () => {
      await previous();
      await Promise.allSettled([cache.close(), db.close()]);
    };
    const invoke = async () => {
      await Promise.all([cacheConfig.get(), dbConfig.get(), breakerConfig.get()]);
      await breaker.execute(() => sql`select 1`.execute(db.kysely));
      await cache.getOrSet('greeting', () => 'hello', { ttlSeconds: 60 });
    };
    await invoke();
    outcome.firstAnswerMs = performance.now() - started;
    for (let next = Date.now() + 1_000; next < until; next += 1_000) {
      await sleep(next - Date.now());
      outcome.warmInvocations++;
      await invoke().catch(() => {
        outcome.warmFailures++;
      });
    }
  } catch (error) {
    const infra = classifyError(error, 'bench');
    outcome.error = `${infra.component} ${infra.type}${infra.code ? ` ${infra.code}` : ''}`;
  }
  await sleep(until - Date.now());
  await close();
  return outcome;
}

const outcomes = await Promise.all(plan.starts.map(container));
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
process.exit(0);
