// The fault run (`npm run fault`): the events pipeline as deployed, under faults. Publisher -> the SQS emulator
// with the stack's redrive policy -> several worker processes through the local poller -> PostgreSQL, with the
// cache and a Redis-shared breaker in the worker's path. It starts its own redis-server and PostgreSQL on free
// ports, kills and pauses them mid-run, injects transient failures into a share of the events and publishes some
// poison, then prints what happened to every message and exits non-zero if a valid event was lost, doubled or
// dead-lettered, or a poison message has no reason.
//
//   npm run fault -- [--messages 10000] [--transient 0.2] [--poison 0.02] [--workers 3] [--env dev]
//                    [--fifo [--groups 200]]  (FIFO queues, content-based deduplication, events spread over groups)
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { createDb, Migrations, migrationsFromFolder, sql } from '@lambda-infra/shared/db';
import { withDeadline } from '@lambda-infra/shared/errors';
import { startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import { startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { createPublisher, DLQ_REASON_ATTRIBUTES, readQueueDepth } from '@lambda-infra/shared/mq';
import { environments } from '../../infra/lib/settings.ts';
import { postgresServer, redisServer } from '../support/servers.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '10000' },
    transient: { type: 'string', default: '0.2' },
    poison: { type: 'string', default: '0.02' },
    workers: { type: 'string', default: '3' },
    env: { type: 'string', default: 'dev' },
    fifo: { type: 'boolean', default: false },
    groups: { type: 'string', default: '200' },
    'outage-ms': { type: 'string', default: '3000' },
    'timeout-s': { type: 'string', default: '900' },
  },
});
const TOTAL = Number(args.messages);
const ENV = args.env!;
const settings = environments[ENV];
if (!settings || !(TOTAL > 0)) {
  console.error(`usage: npm run fault -- --messages N --env ${Object.keys(environments).join('|')}`);
  process.exit(2);
}
const OUTAGE_MS = Number(args['outage-ms']);
const credentials = { accessKeyId: 'fault', secretAccessKey: 'fault' };
const region = 'us-east-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${line}`);

// --- the servers, every one of them this run's own ----------------------------------------------------------
const redis = await redisServer();
await redis.start();
const postgres = await postgresServer();
await postgres.start();
const sqsEmulator = await startSqsEmulator();
const ssmEndpoint = await startSsmEndpoint();
let workers: ChildProcess[] = [];
const cleanup = async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.allSettled([redis.dispose(), postgres.dispose(), sqsEmulator.stop(), ssmEndpoint.close()]);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void cleanup().then(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
}
process.once('exit', () => {
  for (const w of workers) w.kill('SIGKILL');
});

const sqs = new SQSClient({ endpoint: sqsEmulator.url, region, credentials, maxAttempts: 1 });
const ssm = new SSMClient({ endpoint: ssmEndpoint.url, region, credentials, maxAttempts: 1 });

// The database: the events schema, as the migration function lays it out.
const dbUrl = new URL(postgres.url);
const admin = createDb({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'postgres' });
await sql`create database events`.execute(admin.kysely);
await admin.close();
const check = createDb({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'events' });
await new Migrations(check, migrationsFromFolder('functions/db-migrate/migrations')).up();
await check.close();

// The worker's config from infra/config/{env}, as `cdk deploy` and `config import` write it.
for (const entry of await readConfigFolder('infra/config', { env: ENV, service: 'events-worker' })) {
  await ssm.send(
    new PutParameterCommand({
      Name: entry.name.replace(`/config/${ENV}/`, '/config/fault/'),
      Value: JSON.stringify(entry.value),
      Type: 'String',
      Overwrite: true,
    }),
  );
}

// The queue and its dead-letter queue with the stack's redrive policy and visibility timeout.
const FIFO = args.fifo === true;
const GROUPS = Number(args.groups);
const suffix = FIFO ? '.fifo' : '';
const fifoAttributes: Record<string, string> = FIFO
  ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' }
  : {};
const dlqUrl = (
  await sqs.send(new CreateQueueCommand({ QueueName: `events-dlq${suffix}`, Attributes: fifoAttributes }))
).QueueUrl!;
const dlqArn = (
  await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
).Attributes!.QueueArn!;
const timeoutSeconds = settings.functions.timeout.toSeconds();
const queueUrl = (
  await sqs.send(
    new CreateQueueCommand({
      QueueName: `events${suffix}`,
      Attributes: {
        ...fifoAttributes,
        VisibilityTimeout: String(timeoutSeconds * 6),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: settings.queue.maxReceiveCount,
        }),
      },
    }),
  )
).QueueUrl!;

// --- the events ----------------------------------------------------------------------------------------------
const poisonCount = Math.round(TOTAL * Number(args.poison));
const validCount = TOTAL - poisonCount;
// Transient failures spread evenly over the run, failing one or two deliveries each.
const rate = Number(args.transient);
const isTransient = (i: number) => Math.floor((i + 1) * rate) > Math.floor(i * rate);
const valid = Array.from({ length: validCount }, (_, i) => ({
  id: randomUUID(),
  type: `fault.${i % 5}`,
  source: 'fault-run',
  payload: { n: i, ...(isTransient(i) ? { fault: { transient: 1 + (Math.floor(i * rate) % 2) } } : {}) },
}));
let deep = '0';
for (let i = 0; i < 200; i++) deep = `[${deep}]`;
const poisonBodies = [
  '{"id": "not-a-uuid", "type": "x"}',
  '{not json',
  `{"id":"${randomUUID()}","deep":${deep}}`,
];
const poison = Array.from({ length: poisonCount }, (_, i) => poisonBodies[i % poisonBodies.length]!);

// --- the workers ---------------------------------------------------------------------------------------------
const workerEnv = {
  ...process.env,
  LAMBDA_INFRA_ENV: 'fault',
  LAMBDA_INFRA_SERVICE: 'events-worker',
  POWERTOOLS_SERVICE_NAME: 'events-worker',
  POWERTOOLS_LOG_LEVEL: process.env.FAULT_LOG_LEVEL ?? 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  POWERTOOLS_DEV: 'false',
  AWS_REGION: region,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_ENDPOINT_URL_SQS: sqsEmulator.url,
  AWS_ENDPOINT_URL_SSM: ssmEndpoint.url,
  LAMBDA_INFRA_DB_HOST: '127.0.0.1',
  LAMBDA_INFRA_DB_PORT: String(postgres.port),
  LAMBDA_INFRA_DB_NAME: 'events',
  LAMBDA_INFRA_DB_USER: dbUrl.username,
  LAMBDA_INFRA_CACHE_URL: redis.url,
  FAULT_QUEUE_URL: queueUrl,
  FAULT_BATCH_SIZE: String(Math.min(settings.queue.batchSize, 10)),
  FAULT_BATCHING_WINDOW_MS: String(settings.queue.maxBatchingWindow.toMilliseconds()),
  FAULT_TIMEOUT_SECONDS: String(timeoutSeconds),
};
// The workers' own output (their ERROR logs) goes to a file, named here, so that the table stays readable.
const workerLog = join(tmpdir(), `lambda-infra-fault-${process.pid}.log`);
const workerOut = openSync(workerLog, 'w');
workers = Array.from({ length: Number(args.workers) }, () =>
  fork(new URL('./worker.ts', import.meta.url), {
    env: workerEnv,
    stdio: ['ignore', workerOut, workerOut, 'ipc'],
  }),
);
await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
log(
  `${workers.length} workers on ${ENV} settings${FIFO ? `, FIFO over ${GROUPS} groups` : ''}: ` +
    `maxReceiveCount ${settings.queue.maxReceiveCount}, ` +
    `visibility ${timeoutSeconds * 6} s, batch ${settings.queue.batchSize}; redis :${redis.port}, postgres :${postgres.port}; ` +
    `their logs: ${workerLog}`,
);

// --- publish: valid events through the library's publisher, poison raw ---------------------------------------
const runStarted = Date.now();
const publisher = createPublisher({ queueUrl, client: sqs, breaker: false });
for (let i = 0; i < valid.length; i += 10) {
  const result = await publisher.publishBatch(
    valid.slice(i, i + 10).map((body, j) => ({ body, ...(FIFO ? { groupId: `g${(i + j) % GROUPS}` } : {}) })),
  );
  if (result.failed.length > 0) throw new Error(`could not publish: ${JSON.stringify(result.failed[0])}`);
}
for (let i = 0; i < poison.length; i += 10) {
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: poison.slice(i, i + 10).map((body, j) => ({
        Id: String(j),
        MessageBody: body,
        ...(FIFO
          ? { MessageGroupId: `g${(i + j) % GROUPS}`, MessageDeduplicationId: `poison-${i + j}` }
          : {}),
      })),
    }),
  );
}
const transientCount = valid.filter((e) => e.payload.fault).length;
log(
  `published ${valid.length} valid events (${transientCount} with transient failures) and ${poison.length} poison`,
);

// --- faults, each at a share of the stored events --------------------------------------------------------------
const counter = createDb({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'events' });
const storedCount = async (): Promise<number | undefined> => {
  try {
    const { rows } = await sql<{ n: string }>`select count(*) as n from events`.execute(counter.kysely);
    return Number(rows[0]!.n);
  } catch {
    return undefined; // the database is down or paused: the count waits
  }
};
/** The stored count, or undefined when it does not come within `ms` (a paused database). */
const countWithin = (ms: number) =>
  withDeadline(storedCount(), Date.now() + ms, 'counting').catch(() => undefined);

interface Fault {
  at: number;
  name: string;
  begin: () => Promise<void> | void;
  end: () => Promise<void> | void;
}
const faults: Fault[] = [
  { at: 0.2, name: 'redis killed', begin: () => redis.stop(), end: () => redis.start() },
  { at: 0.35, name: 'postgres killed', begin: () => postgres.kill(), end: () => postgres.start() },
  { at: 0.5, name: 'redis paused', begin: () => redis.pause(), end: () => redis.resume() },
  { at: 0.65, name: 'postgres paused', begin: () => postgres.pause(), end: () => postgres.resume() },
];
const recovery: { name: string; outageMs: number; recoverMs: number | undefined }[] = [];
const deadline = Date.now() + Number(args['timeout-s']) * 1_000;
let stored = 0;
for (const fault of faults) {
  while (stored < validCount * fault.at && Date.now() < deadline) {
    stored = (await countWithin(2_000)) ?? stored;
    await sleep(100);
  }
  log(`${fault.name} at ${stored} stored, for ${OUTAGE_MS} ms`);
  await fault.begin();
  await sleep(OUTAGE_MS);
  await fault.end();
  const back = Date.now();
  const before = (await countWithin(5_000)) ?? stored;
  let recoverMs: number | undefined;
  while (Date.now() < deadline && Date.now() - back < 120_000) {
    const now = await countWithin(2_000);
    if (now !== undefined && now > before) {
      recoverMs = Date.now() - back;
      stored = now;
      break;
    }
    if (now !== undefined && now >= validCount) break;
    await sleep(50);
  }
  recovery.push({ name: fault.name, outageMs: OUTAGE_MS, recoverMs });
  log(`${fault.name}: back, first event stored ${recoverMs ?? '-'} ms later`);
}

// --- wait for the end: every valid event stored and every poison message dead-lettered, or the time is up -----
const depth = async (url: string) => {
  const { visible, inFlight, delayed } = await readQueueDepth(sqs, url);
  return visible + inFlight + delayed;
};
let lastLog = 0;
while (Date.now() < deadline) {
  stored = (await storedCount()) ?? stored;
  const [left, dead] = [await depth(queueUrl), await depth(dlqUrl)];
  if (left === 0) break;
  if (Date.now() - lastLog > 10_000) {
    log(`${stored} stored, ${left} in the queue, ${dead} dead-lettered`);
    lastLog = Date.now();
  }
  await sleep(500);
}
const elapsedS = (Date.now() - runStarted) / 1_000;

// --- stop the workers, then count ----------------------------------------------------------------------------
const reports = await Promise.all(
  workers.map(
    (w) =>
      new Promise<{ invocations: number; injected: number }>((resolve) => {
        w.on(
          'message',
          (m: { stopped?: boolean; invocations: number; injected: number }) => m.stopped && resolve(m),
        );
        w.send({ stop: true });
      }),
  ),
);
workers = [];

const { rows: storedRows } = await sql<{ id: string }>`select id from events`.execute(counter.kysely);
const { rows: countRows } = await sql<{
  n: string;
}>`select coalesce(sum(count), 0) as n from event_counts_hourly`.execute(counter.kysely);
await counter.close();
const storedIds = new Set<string>(storedRows.map((r) => r.id));
const validIds = new Set<string>(valid.map((e) => e.id));
const counted = Number(countRows[0]!.n);

const letters: Message[] = [];
for (;;) {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: dlqUrl,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 600,
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 0,
    }),
  );
  if (Messages.length === 0) break;
  letters.push(...Messages);
}
const idOf = (body: string | undefined) => {
  try {
    return (JSON.parse(body ?? '') as { id?: string }).id;
  } catch {
    return undefined;
  }
};
const hasReason = (m: Message) =>
  Boolean(m.MessageAttributes?.[DLQ_REASON_ATTRIBUTES.errorType]?.StringValue);
const poisonLetters = letters.filter((m) => !validIds.has(idOf(m.Body) ?? ''));
const validLetters = letters.filter((m) => validIds.has(idOf(m.Body) ?? ''));
const lostIds = [...validIds].filter((id) => !storedIds.has(id));
const lost = lostIds.length;
if (lost > 0) log(`lost: ${lostIds.slice(0, 20).join(' ')}`);
for (const letter of validLetters.slice(0, 10)) {
  const reason = (name: string) => letter.MessageAttributes?.[name]?.StringValue;
  log(
    `valid event dead-lettered: ${idOf(letter.Body)} ${reason(DLQ_REASON_ATTRIBUTES.errorType)} after ` +
      `${reason(DLQ_REASON_ATTRIBUTES.receiveCount)} deliveries: ${reason(DLQ_REASON_ATTRIBUTES.errorMessage)}`,
  );
}
const leftOver = await depth(queueUrl);

const rows: [string, number | string][] = [
  ['sent (valid / poison)', `${validCount} / ${poisonCount}`],
  ['valid with transient failures', transientCount],
  ['failures injected', reports.reduce((n, r) => n + r.injected, 0)],
  ['stored', [...validIds].filter((id) => storedIds.has(id)).length],
  ['lost (valid, not stored)', lost],
  ['doubled (counted more than once)', Math.max(0, counted - storedIds.size)],
  ['valid dead-lettered', validLetters.length],
  ['poison dead-lettered with a reason', poisonLetters.filter(hasReason).length],
  ['dead-lettered without a reason', letters.filter((m) => !hasReason(m)).length],
  ['left over in the queue', leftOver],
  ...recovery.map(
    (r) =>
      [
        `recovery after ${r.name} (${r.outageMs} ms)`,
        r.recoverMs === undefined ? 'never' : `${r.recoverMs} ms`,
      ] as [string, string],
  ),
  ['worker invocations', reports.reduce((n, r) => n + r.invocations, 0)],
  ['elapsed', `${elapsedS.toFixed(1)} s`],
];
console.log('\n| fault run | |\n|---|---|');
for (const [name, value] of rows)
  console.log(`| ${name} | ${typeof value === 'number' ? value.toLocaleString('en-US') : value} |`);

const problems = [
  lost > 0 && `${lost} valid events lost`,
  counted > storedIds.size && `${counted - storedIds.size} events counted twice`,
  validLetters.length > 0 && `${validLetters.length} valid events dead-lettered`,
  poisonLetters.length !== poisonCount &&
    `${poisonLetters.length} of ${poisonCount} poison messages dead-lettered`,
  letters.some((m) => !hasReason(m)) && 'dead letters without a reason',
  leftOver > 0 && `${leftOver} messages left in the queue`,
].filter(Boolean);
sqs.destroy();
ssm.destroy();
await cleanup();
if (problems.length > 0) {
  console.error(`\nFAULT RUN FAILED: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(
  '\nfault run passed: no valid event lost, doubled or dead-lettered; every poison message with its reason',
);
process.exit(0);
