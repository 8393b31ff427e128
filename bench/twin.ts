// The local twin (`lambda-infra dev`): time from start to its ready line, and events from POST /events to a
// stored row through it (HTTP API → events-api container → SQS → poller → events-worker container →
// PostgreSQL), against a bare loop doing the same SQS and PostgreSQL work in the same run, on the twin's own
// emulator and database: SendMessage per event, and consumers that receive batches of 10, insert and count
// each event in one transaction and delete the batch.
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { eventInputSchema } from '@lambda-infra/db-migrate/events';
import type { TwinState } from '@lambda-infra/shared/local/twin';
import pg from 'pg';
import { type DevProcess, startDev } from '../test/support/twin.ts';
import { median, percentile } from './median.ts';

const STARTS = Number(process.env.BENCH_TWIN_STARTS ?? 3);
const EVENTS = Number(process.env.BENCH_TWIN_EVENTS ?? 400);
const CONCURRENCY = Number(process.env.BENCH_TWIN_CONCURRENCY ?? 8);

export interface TwinBenchResult {
  startMs: { fresh: number; again: number };
  rows: Record<'twin' | 'bare', { eventsPerSecond: number; p50Ms: number; p99Ms: number }>;
  ratios: { throughput: number; p50: number };
}

interface Running extends DevProcess {
  readyMs: number;
}

async function start(stateDir: string): Promise<Running> {
  const started = performance.now();
  const twin = await startDev(stateDir);
  return Object.assign(twin, { readyMs: performance.now() - started });
}

async function stop(twin: Running): Promise<void> {
  await twin.interrupt();
}

/** Sends `count` events, `CONCURRENCY` at a time, and waits for every one to be stored; latency per event. */
async function drive(
  db: pg.Client,
  send: (body: { id: string; type: string; source: string; payload: object }) => Promise<string>,
  count = EVENTS,
): Promise<{ eventsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const sentAt = new Map<string, number>();
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const event = { id: randomUUID(), type: 'bench.twin', source: 'bench', payload: { n: next } };
      const at = Date.now();
      const id = await send(event);
      sentAt.set(id, at);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const stored = new Map<string, number>();
  const deadline = Date.now() + 120_000;
  while (stored.size < sentAt.size) {
    if (Date.now() > deadline)
      throw new Error(`only ${stored.size} of ${sentAt.size} events stored in 120 s`);
    const { rows } = await db.query<{ id: string; created_at: Date }>(
      'select id, created_at from events where id = any($1::uuid[])',
      [[...sentAt.keys()].filter((id) => !stored.has(id))],
    );
    for (const row of rows) stored.set(row.id, row.created_at.getTime());
    if (stored.size < sentAt.size) await new Promise((r) => setTimeout(r, 50));
  }
  const latencies = [...sentAt].map(([id, at]) => stored.get(id)! - at);
  const last = Math.max(...stored.values());
  return {
    eventsPerSecond: count / ((last - started) / 1_000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** What a person would write without the library: validate, SendMessage, and a receive-insert-delete loop. */
async function bare(state: TwinState, db: pg.Client) {
  const sqs = new SQSClient({
    endpoint: state.sqs,
    region: state.region,
    credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
  });
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `bench-bare-${randomUUID().slice(0, 8)}` }),
  );
  const pool = new pg.Pool({ connectionString: state.database, max: 2 });
  let running = true;
  // Two consumers, as the template's mapping has a maximum concurrency of 2.
  const consumers = Array.from({ length: 2 }, async () => {
    while (running) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      if (Messages.length === 0) continue;
      const client = await pool.connect();
      try {
        for (const m of Messages) {
          const e = JSON.parse(m.Body!) as { id: string; type: string; source: string; payload: object };
          await client.query('begin');
          const inserted = await client.query(
            'insert into events (id, type, source, payload) values ($1, $2, $3, $4) on conflict (id) do nothing',
            [e.id, e.type, e.source, e.payload],
          );
          if (inserted.rowCount)
            await client.query(
              `insert into event_counts_hourly (type, hour, count) values ($1, date_trunc('hour', now()), 1)
               on conflict (type, hour) do update set count = event_counts_hourly.count + 1`,
              [e.type],
            );
          await client.query('commit');
        }
      } finally {
        client.release();
      }
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  });
  try {
    return await drive(db, async (event) => {
      const parsed = eventInputSchema.parse(event);
      await sqs.send(
        new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ ...parsed, id: event.id }) }),
      );
      return event.id;
    });
  } finally {
    running = false;
    await Promise.all(consumers);
    await pool.end();
    sqs.destroy();
  }
}

export async function benchTwin(): Promise<TwinBenchResult> {
  const fresh: number[] = [];
  const again: number[] = [];
  let rows: TwinBenchResult['rows'] | undefined;
  for (let i = 0; i < STARTS; i++) {
    const stateDir = mkdtempSync(join(tmpdir(), 'lambda-infra-bench-twin-'));
    chmodSync(stateDir, 0o755);
    try {
      // A fresh state folder: initdb, migrations; then the same folder again, as a second `npm run dev` runs.
      const first = await start(stateDir);
      fresh.push(first.readyMs);
      await stop(first);
      const twin = await start(stateDir);
      again.push(twin.readyMs);
      if (i === 0) {
        const db = new pg.Client({ connectionString: twin.state.database });
        await db.connect();
        try {
          const post = async (event: { id: string; type: string; source: string; payload: object }) => {
            const { id: _, ...body } = event;
            const response = await fetch(`${twin.state.http}/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
            if (response.status !== 202) throw new Error(`POST /events answered ${response.status}`);
            return ((await response.json()) as { id: string }).id;
          };
          // A warm-up run first, so that the measured one does not count the containers' cold starts.
          await drive(db, post, CONCURRENCY * 5);
          const twinRow = await drive(db, post);
          const bareRow = await bare(twin.state, db);
          rows = { twin: twinRow, bare: bareRow };
        } finally {
          await db.end();
        }
      }
      await stop(twin);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  const r = rows!;
  return {
    startMs: { fresh: median(fresh), again: median(again) },
    rows: r,
    ratios: { throughput: r.twin.eventsPerSecond / r.bare.eventsPerSecond, p50: r.twin.p50Ms / r.bare.p50Ms },
  };
}

export function twinTable(result: TwinBenchResult): string {
  const row = (name: string, v: TwinBenchResult['rows']['twin']) =>
    `| ${name} | ${v.eventsPerSecond.toFixed(0)} | ${v.p50Ms.toFixed(0)} | ${v.p99Ms.toFixed(0)} |`;
  return [
    `Start to ready: ${(result.startMs.fresh / 1000).toFixed(1)} s with a fresh state folder (initdb, migrations), ${(result.startMs.again / 1000).toFixed(1)} s again on it; cdk.out/dev reused, median of ${STARTS}.`,
    '',
    `| ${EVENTS} events, ${CONCURRENCY} at a time | events/s | POST → stored p50 ms | p99 ms |`,
    '|---|---|---|---|',
    row(
      'twin: HTTP → events-api → SQS → events-worker (batch 10, window 1 s, 2 at once) → PostgreSQL',
      result.rows.twin,
    ),
    row(
      'bare: SendMessage; receive up to 10 (no window), insert + count, delete (2 at once)',
      result.rows.bare,
    ),
    '',
    `twin / bare: throughput ${result.ratios.throughput.toFixed(2)}, p50 latency ${result.ratios.p50.toFixed(2)}`,
  ].join('\n');
}
