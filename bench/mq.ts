// publishBatch against one SendMessage per message (throughput and API calls), and the consumer's cost per
// message against a bare loop over the same records; SQS is fauxqs on loopback, started here.
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import { createPublisher, createSqsHandler } from '@lambda-infra/shared/mq';
import type { Context, SQSEvent } from 'aws-lambda';
import { median } from './median.ts';

const MESSAGES = Number(process.env.BENCH_MQ_MESSAGES ?? 1_000);
const ROUNDS = Number(process.env.BENCH_MQ_ROUNDS ?? 5);
const BATCHES = Number(process.env.BENCH_MQ_BATCHES ?? 5_000);

export interface MqBenchResult {
  batch: { messagesPerSecond: number; calls: number };
  single: { messagesPerSecond: number; calls: number };
  consumerMicrosPerMessage: number;
  bareMicrosPerMessage: number;
}

export async function benchMq(): Promise<MqBenchResult> {
  const server = await startSqsEmulator();
  const client = new SQSClient({
    endpoint: server.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
  });
  let calls = 0;
  client.middlewareStack.add(
    (next) => (args) => {
      calls++;
      return next(args);
    },
    { step: 'initialize' },
  );
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'bench' }));
  const publisher = createPublisher({ queueUrl: QueueUrl!, client });
  const bodies = Array.from({ length: MESSAGES }, (_, i) => ({
    body: { n: i, type: 'order.placed', total: 42.5 },
  }));

  const batchRuns: number[] = [];
  const singleRuns: number[] = [];
  let batchCalls = 0;
  let singleCalls = 0;
  for (let r = 0; r < ROUNDS; r++) {
    calls = 0;
    let started = performance.now();
    await publisher.publishBatch(bodies);
    batchRuns.push(MESSAGES / ((performance.now() - started) / 1_000));
    batchCalls = calls;
    calls = 0;
    started = performance.now();
    for (const item of bodies) await publisher.publish(item.body);
    singleRuns.push(MESSAGES / ((performance.now() - started) / 1_000));
    singleCalls = calls;
  }

  // The consumer: ten records per invocation, handled with no SQS call (nothing fails).
  const event: SQSEvent = {
    Records: Array.from({ length: 10 }, (_, i) => ({
      messageId: `m-${i}`,
      receiptHandle: `r-${i}`,
      body: JSON.stringify({ n: i, type: 'order.placed', total: 42.5 }),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 'bench',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench',
      awsRegion: 'us-east-1',
    })),
  };
  const context = {
    functionName: 'bench',
    awsRequestId: 'bench',
    getRemainingTimeInMillis: () => 30_000,
  } as Context;
  let sink = 0;
  const handler = createSqsHandler<{ n: number }>({
    client,
    handle: ({ body }) => {
      sink += body.n;
    },
  });
  const bare = async (e: SQSEvent) => {
    for (const record of e.Records) sink += (JSON.parse(record.body) as { n: number }).n;
    return { batchItemFailures: [] };
  };
  const perMessage = async (run: () => Promise<unknown>) => {
    const runs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const started = performance.now();
      for (let i = 0; i < BATCHES; i++) await run();
      runs.push(((performance.now() - started) * 1_000) / (BATCHES * 10));
    }
    return median(runs);
  };
  // Powertools writes an EMF line per invocation; silence it here, as Lambda would ship it elsewhere.
  const log = console.log;
  console.log = () => {};
  await perMessage(() => handler(event, context));
  const consumerMicrosPerMessage = await perMessage(() => handler(event, context));
  const bareMicrosPerMessage = await perMessage(() => bare(event));
  console.log = log;
  if (sink < 0) throw new Error('unreachable');

  client.destroy();
  await server.stop();
  return {
    batch: { messagesPerSecond: median(batchRuns), calls: batchCalls },
    single: { messagesPerSecond: median(singleRuns), calls: singleCalls },
    consumerMicrosPerMessage,
    bareMicrosPerMessage,
  };
}

export function mqTable(r: MqBenchResult): string {
  return [
    '| sending 1,000 messages | messages/s | SQS calls |',
    '|---|---|---|',
    `| publishBatch | ${Math.round(r.batch.messagesPerSecond).toLocaleString('en')} | ${r.batch.calls} |`,
    `| publish, one SendMessage each | ${Math.round(r.single.messagesPerSecond).toLocaleString('en')} | ${r.single.calls} |`,
    '',
    `publishBatch / SendMessage each: ${(r.batch.messagesPerSecond / r.single.messagesPerSecond).toFixed(1)}x the throughput, ${(r.batch.calls / r.single.calls).toFixed(2)}x the calls.`,
    `Consumer: ${r.consumerMicrosPerMessage.toFixed(1)} µs per message through createSqsHandler (Powertools Batch, middy, logger, tracer, metrics) against ${r.bareMicrosPerMessage.toFixed(2)} µs for a bare loop over the same records: ${(r.consumerMicrosPerMessage - r.bareMicrosPerMessage).toFixed(1)} µs of overhead per message.`,
    `Median of ${ROUNDS} rounds; fauxqs on loopback.`,
  ].join('\n');
}
