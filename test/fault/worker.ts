// One worker "container" of the fault run: functions/events-worker driven by the local poller, as the event
// source mapping drives it, with transient failures injected into the database calls of chosen events.
// Started by test/fault/run.ts with its bindings in the environment; it reports over IPC.

import { appendFileSync } from 'node:fs';
import { startPoller } from '@lambda-infra/shared/local/sqs';
import type { SQSEvent } from 'aws-lambda';
import pg from 'pg';

const { FAULT_QUEUE_URL, FAULT_BATCH_SIZE, FAULT_BATCHING_WINDOW_MS, FAULT_TIMEOUT_SECONDS } = process.env;

/** Receive count of each event being handled in this process, by event id. */
const receiveCounts = new Map<string, number>();
let injected = 0;

// An event whose payload says `fault: { transient: n }` has its insert fail on its first n deliveries, the way a
// connection reset mid-statement fails: the consumer must retry it and store it once.
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const [text, values] = args as [unknown, unknown[] | undefined];
  if (typeof text === 'string' && text.startsWith('insert into "events"') && Array.isArray(values)) {
    const id = String(values[0]);
    const payload = JSON.parse(String(values[3] ?? '{}')) as { fault?: { transient?: number } };
    const transient = payload.fault?.transient ?? 0;
    if ((receiveCounts.get(id) ?? 1) <= transient) {
      injected++;
      const error = Object.assign(new Error('read ECONNRESET (injected by the fault run)'), {
        code: 'ECONNRESET',
      });
      return Promise.reject(error);
    }
  }
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

const { handler } = await import('../../functions/events-worker/src/handler.ts');

const poller = await startPoller({
  queueUrl: FAULT_QUEUE_URL!,
  batchSize: Number(FAULT_BATCH_SIZE ?? 10),
  batchingWindowMs: Number(FAULT_BATCHING_WINDOW_MS ?? 0),
  timeoutSeconds: Number(FAULT_TIMEOUT_SECONDS ?? 10),
  functionName: 'events-worker',
  handler: async (event: SQSEvent, context) => {
    for (const record of event.Records) {
      try {
        const id = (JSON.parse(record.body) as { id?: unknown }).id;
        if (typeof id === 'string') receiveCounts.set(id, Number(record.attributes.ApproximateReceiveCount));
      } catch {
        // poison: the consumer says why
      }
    }
    const response = await handler(event, context);
    if (process.env.FAULT_TRACE) {
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      const lines = event.Records.map((r) =>
        JSON.stringify({
          id: r.body.slice(7, 43),
          m: r.messageId,
          rc: r.attributes.ApproximateReceiveCount,
          ok: !failed.has(r.messageId),
          at: Date.now(),
        }),
      );
      appendFileSync(process.env.FAULT_TRACE, `${lines.join('\n')}\n`);
    }
    return response;
  },
});

process.send?.({ ready: true });
// A worker whose run has gone (crashed, or killed) stops too, rather than polling on alone.
process.once('disconnect', () => process.exit(1));
process.on('message', async (message: { stop?: boolean }) => {
  if (!message.stop) return;
  await poller.stop();
  process.send?.({ stopped: true, invocations: poller.invocations, injected });
  process.exit(0);
});
