// The messaging path under faults, over the SQS emulator: no valid message dead-lettered because a dependency
// was down or misconfigured, nothing deduplicated away, every dead letter with its reason.
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { type Message, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { BreakerOpenError } from '@lambda-infra/shared/breaker';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import { dbConfigDefaults, dbConfigSchema } from '@lambda-infra/shared/db';
import { InfraError } from '@lambda-infra/shared/errors';
import { lazy } from '@lambda-infra/shared/handler';
import { startPoller } from '@lambda-infra/shared/local/sqs';
import {
  createPublisher,
  createSqsHandler,
  DLQ_REASON_ATTRIBUTES,
  MAX_BODY_DEPTH,
  redrive,
  retrySurvivalSeconds,
} from '@lambda-infra/shared/mq';
import { logger } from '@lambda-infra/shared/observability';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { failure, useSsmEndpoint } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';
import { lambdaContext, sqsRecord } from '../support/events.ts';
import {
  fauxqsClient,
  queueArn,
  queueDepth,
  receiveNow,
  sourceWithRedrivePolicy,
  until,
  usePoller,
  useQueueCleanup,
} from '../support/sqs.ts';

const sqs = fauxqsClient();
const made = useQueueCleanup(sqs);
const local = useSsmEndpoint();
const poller = usePoller();
let emitted: Emitted;

beforeEach(() => {
  emitted = captureConsole();
});
afterEach(() => emitted.restore());

const arnOf = (url: string) => queueArn(sqs, url);
const queues = (options: Parameters<typeof sourceWithRedrivePolicy>[2] = {}) =>
  sourceWithRedrivePolicy(sqs, made, { maxReceiveCount: 5, ...options });
const receiveAll = (url: string) => receiveNow(sqs, url);

describe('retries that outlast an outage', () => {
  it('waits at least until an open circuit lets a probe through before the next delivery', async () => {
    const { source } = await queues();
    const deliveries: number[] = [];
    const handler = createSqsHandler({
      client: sqs,
      retry: { baseDelaySeconds: 1, jitter: 'none' },
      handle: ({ receiveCount }) => {
        deliveries.push(Date.now());
        if (receiveCount === 1) throw new BreakerOpenError('db', 'open', 3_000);
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ n: 1 });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    await until(() => deliveries.length === 2);

    // The backoff alone would have been 1 s; the circuit said 3 s.
    expect(deliveries[1]! - deliveries[0]!).toBeGreaterThanOrEqual(3_000);
  });

  it('gives a message at least the floors of its delays: never 0 s, whatever the jitter draws', () => {
    expect(retrySurvivalSeconds({ baseDelaySeconds: 10, maxDelaySeconds: 300 }, 7)).toEqual({
      min: 5 + 10 + 20 + 40 + 80 + 150,
      max: 10 + 20 + 40 + 80 + 160 + 300,
    });
    expect(retrySurvivalSeconds({ baseDelaySeconds: 1, maxDelaySeconds: 1 }, 3).min).toBe(2);
  });

  it('dead-letters a message itself, with its reason, on the last delivery the redrive policy allows', async () => {
    const { source, dlq } = await queues({ maxReceiveCount: 2 });
    let deliveries = 0;
    const handler = createSqsHandler({
      client: sqs,
      retry: { baseDelaySeconds: 1, jitter: 'none' },
      handle: () => {
        deliveries++;
        throw new InfraError('database down', { type: 'connection', component: 'db', code: 'ECONNREFUSED' });
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ doomed: true });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    const letters: Message[] = [];
    await until(async () => {
      letters.push(...(await receiveAll(dlq)));
      return letters.length === 1;
    });

    expect(deliveries).toBe(2);
    const reasons = letters[0]!.MessageAttributes!;
    expect(reasons[DLQ_REASON_ATTRIBUTES.errorType]?.StringValue).toBe('connection');
    expect(reasons[DLQ_REASON_ATTRIBUTES.errorMessage]?.StringValue).toBe(
      'gave up after 2 deliveries: database down',
    );
    expect(reasons[DLQ_REASON_ATTRIBUTES.receiveCount]?.StringValue).toBe('2');
  });
});

describe('a config or connection error is never the message’s fault', () => {
  async function failsOnceThen(problem: 'poolMax' | 'not JSON' | 'client' | 'access') {
    const env = `t${randomUUID().slice(0, 6)}`;
    const name = `/config/${env}/worker/db`;
    const put = (value: string) =>
      local.ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
    await put(problem === 'poolMax' ? '{"poolMax":0}' : problem === 'not JSON' ? '{poolMax: 2' : '{}');
    let fixed = false;
    const db = defineConfig({
      component: 'db',
      schema: dbConfigSchema,
      defaults: dbConfigDefaults,
      source: new ConfigSource({ env, service: 'worker', client: local.ssm, now: () => (fixed ? 1e15 : 0) }),
    });
    const client = lazy(() => {
      if (problem === 'client' && !fixed) throw new TypeError('LAMBDA_INFRA_DB_HOST is not a host name');
      if (problem === 'access' && !fixed) {
        throw Object.assign(new Error('not authorized to perform ssm:GetParametersByPath'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      return {};
    });
    const { source, dlq } = await queues();
    const handled: number[] = [];
    const handler = createSqsHandler({
      client: sqs,
      retry: { baseDelaySeconds: 1, jitter: 'none' },
      handle: async ({ receiveCount }) => {
        await db.get();
        await client();
        handled.push(receiveCount);
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ valid: true });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    await until(
      async () =>
        (await queueDepth(sqs, source)) === 1 && emitted.metrics().some((m) => m.name === 'EventsRetried'),
    );
    const deadLetteredBeforeTheFix = await queueDepth(sqs, dlq);
    await put('{}');
    fixed = true;
    await until(() => handled.length === 1);
    return { deadLetteredBeforeTheFix, handled };
  }

  it.each(['poolMax', 'not JSON', 'client', 'access'] as const)(
    'retries a valid message while %s is wrong, and handles it once that is fixed',
    async (problem) => {
      const { deadLetteredBeforeTheFix, handled } = await failsOnceThen(problem);

      expect(deadLetteredBeforeTheFix).toBe(0);
      expect(handled[0]).toBeGreaterThanOrEqual(2);
    },
  );

  it('still dead-letters at once what the message itself gets wrong: not JSON, too deep, invalid', async () => {
    const { source, dlq } = await queues();
    const handled: unknown[] = [];
    const handler = createSqsHandler({
      client: sqs,
      schema: z.object({ n: z.number() }).passthrough(),
      handle: ({ body }) => {
        handled.push(body);
      },
    });
    let deep = '1';
    for (let i = 0; i < 10_000; i++) deep = `{"a":${deep}}`;
    for (const body of ['{"n":', `{"n":1,"deep":${deep}}`, '{"n":"one"}', '{"n":2}']) {
      await sqs.send(new SendMessageCommand({ QueueUrl: source, MessageBody: body }));
    }

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    const letters: Message[] = [];
    await until(async () => {
      letters.push(...(await receiveAll(dlq)));
      return letters.length === 3 && handled.length === 1;
    });

    const messages = letters.map(
      (l) => l.MessageAttributes![DLQ_REASON_ATTRIBUTES.errorMessage]!.StringValue,
    );
    expect(letters.map((l) => l.MessageAttributes![DLQ_REASON_ATTRIBUTES.errorType]!.StringValue)).toEqual([
      'validation',
      'validation',
      'validation',
    ]);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^message body is not JSON/),
        expect.stringContaining(`at most ${MAX_BODY_DEPTH} are allowed`),
        expect.stringMatching(/^message body is invalid: n: /),
      ]),
    );
    expect(handled).toEqual([{ n: 2 }]);
  });
});

describe('every dead letter carries its reason', () => {
  it('fits the reasons beside a body of nearly 1 MiB, cutting the message text and keeping the type', async () => {
    const { source, dlq } = await queues();
    const handler = createSqsHandler({
      client: sqs,
      handle: () => {
        throw new InfraError(`refused: ${'x'.repeat(5_000)}`, { type: 'validation', component: 'orders' });
      },
    });
    const body = JSON.stringify({ blob: 'b'.repeat(1_048_576 - 300) });
    await sqs.send(new SendMessageCommand({ QueueUrl: source, MessageBody: body }));

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    const letters: Message[] = [];
    await until(async () => {
      letters.push(...(await receiveAll(dlq)));
      return letters.length === 1;
    });

    const reasons = letters[0]!.MessageAttributes!;
    expect(letters[0]!.Body).toBe(body);
    expect(reasons[DLQ_REASON_ATTRIBUTES.errorType]?.StringValue).toBe('validation');
    expect(reasons[DLQ_REASON_ATTRIBUTES.sourceQueue]?.StringValue).toBe(await arnOf(source));
    expect(await queueDepth(sqs, source)).toBe(0);
  });

  it('replaces in the reason what SQS refuses in an attribute: NUL, lone surrogates', async () => {
    const { source, dlq } = await queues();
    const handler = createSqsHandler({
      client: sqs,
      handle: () => {
        throw new InfraError('bad name "a\u0000b\ud800c"', { type: 'validation', component: 'orders' });
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ n: 1 });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    const letters: Message[] = [];
    await until(async () => {
      letters.push(...(await receiveAll(dlq)));
      return letters.length === 1;
    });

    expect(letters[0]!.MessageAttributes![DLQ_REASON_ATTRIBUTES.errorMessage]?.StringValue).toBe(
      'bad name "a\ufffdb\ufffdc"',
    );
  });
});

describe('FIFO redrive loses nothing', () => {
  it.each([
    ['content-based deduplication', true],
    ['explicit deduplication ids', false],
  ])(
    'moves dead letters back within the 5-minute window, with %s, keeping their group',
    async (_, contentBased) => {
      const { source, dlq } = await queues({ fifo: true, contentBased });
      const seen: { body: unknown; group?: string }[] = [];
      let failing = true;
      const handler = createSqsHandler({
        client: sqs,
        handle: ({ body, record }) => {
          if (failing)
            throw new InfraError('cannot handle it yet', { type: 'validation', component: 'orders' });
          seen.push({ body, group: record.attributes.MessageGroupId });
        },
      });
      const publisher = createPublisher({ queueUrl: source, client: sqs });
      await publisher.publishBatch([
        { body: { n: 1 }, groupId: 'tenant-a', ...(contentBased ? {} : { deduplicationId: 'd-1' }) },
        { body: { n: 2 }, groupId: 'tenant-b', ...(contentBased ? {} : { deduplicationId: 'd-2' }) },
      ]);
      poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
      await until(async () => (await queueDepth(sqs, dlq)) === 2 && (await queueDepth(sqs, source)) === 0);

      failing = false;
      const report = await redrive({ from: dlq, client: sqs });
      await until(() => seen.length === 2);

      expect(report).toEqual({ moved: 2, skipped: 0, failed: 0 });
      expect(seen.sort((a, b) => String(a.group).localeCompare(String(b.group)))).toEqual([
        { body: { n: 1 }, group: 'tenant-a' },
        { body: { n: 2 }, group: 'tenant-b' },
      ]);
      expect(await queueDepth(sqs, dlq)).toBe(0);
    },
  );

  it('delivers a group in order around a message that failed and came back', async () => {
    const { source } = await queues({ fifo: true, contentBased: true });
    const seen: { n: number; receiveCount: number }[] = [];
    const handler = createSqsHandler<{ n: number }>({
      client: sqs,
      retry: { baseDelaySeconds: 1, jitter: 'none' },
      handle: ({ body, receiveCount }) => {
        seen.push({ n: body.n, receiveCount });
        if (body.n === 1 && receiveCount === 1) {
          throw new InfraError('database down', { type: 'connection', component: 'db' });
        }
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publishBatch([
      { body: { n: 1 }, groupId: 'g' },
      { body: { n: 2 }, groupId: 'g' },
      { body: { n: 3 }, groupId: 'g' },
    ]);

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    await until(() => seen.some((s) => s.n === 3), 15_000);

    expect(seen.map((s) => s.n)).toEqual([1, 1, 2, 3]);
    expect(await queueDepth(sqs, source)).toBe(0);
  });

  it('holds the records skipped behind a failed one of their group for its delay, not the visibility timeout', async () => {
    const { source } = await queues({ fifo: true, contentBased: true });
    const arn = await arnOf(source);
    const asked: { receipt: string; delay: number }[] = [];
    const client = fauxqsClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as {
          ReceiptHandle?: string;
          VisibilityTimeout?: number;
          Entries?: { ReceiptHandle: string; VisibilityTimeout: number }[];
        };
        if (context.commandName === 'ChangeMessageVisibilityBatchCommand') {
          for (const e of input.Entries ?? [])
            asked.push({ receipt: e.ReceiptHandle, delay: e.VisibilityTimeout });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const handled: string[] = [];
    const handler = createSqsHandler<{ n: string }>({
      client,
      retry: { baseDelaySeconds: 4, jitter: 'none' },
      handle: ({ body }) => {
        handled.push(body.n);
        if (body.n === 'g1') throw new InfraError('database down', { type: 'connection', component: 'db' });
      },
    });
    const record = (n: string, group: string) =>
      sqsRecord({
        messageId: `m-${n}`,
        receiptHandle: `receipt-${n}`,
        body: JSON.stringify({ n }),
        eventSourceARN: arn,
        groupId: group,
      });
    const event = { Records: [record('g1', 'g'), record('h1', 'h'), record('g2', 'g'), record('g3', 'g')] };

    const response = await handler(event as SQSEvent, lambdaContext('events-worker'));

    expect(handled).toEqual(['g1', 'h1']);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-g1', 'm-g2', 'm-g3']);
    expect(asked.sort((a, b) => a.receipt.localeCompare(b.receipt))).toEqual([
      { receipt: 'receipt-g1', delay: 4 },
      { receipt: 'receipt-g2', delay: 4 },
      { receipt: 'receipt-g3', delay: 4 },
    ]);
    client.destroy();
  });

  it('dead-letters into a FIFO queue a message that came back and failed again', async () => {
    const { source, dlq } = await queues({ fifo: true, contentBased: true });
    const handler = createSqsHandler({
      client: sqs,
      handle: () => {
        throw new InfraError('still wrong', { type: 'validation', component: 'orders' });
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ n: 1 }, { groupId: 'g' });
    poller.current = await startPoller({ queueUrl: source, handler, client: sqs, waitTimeSeconds: 1 });
    await until(async () => (await queueDepth(sqs, dlq)) === 1);

    await redrive({ from: dlq, client: sqs });

    await until(async () => (await queueDepth(sqs, dlq)) === 1 && (await queueDepth(sqs, source)) === 0);
    const [letter] = await receiveAll(dlq);
    expect(letter?.Attributes?.MessageGroupId).toBe('g');
  });
});

describe('bad bodies are validation errors', () => {
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];

  it.each([
    ['circular', circular, 'is circular'],
    ['a BigInt', { n: 10n }, 'BigInt'],
    ['nested 100,000 levels', deep, `at most ${MAX_BODY_DEPTH}`],
  ])('refuses a body that is %s, naming the entry, and sends nothing', async (_, bad, message) => {
    const { source } = await queues();
    const publisher = createPublisher({ queueUrl: source, client: sqs, schema: z.unknown() });

    const one = await failure(publisher.publish(bad));
    const batch = await failure(publisher.publishBatch([{ body: { ok: 1 } }, { body: bad }]));

    for (const error of [one, batch]) {
      expect(error).toBeInstanceOf(InfraError);
      expect((error as InfraError).type).toBe('validation');
      expect(error.message).toContain(message);
    }
    expect((batch as InfraError).fields[0]?.path).toBe('[1].body');
    expect(await queueDepth(sqs, source)).toBe(0);
  });
});

describe('correlation ids stay with their record', () => {
  it('gives each record of a batch handled at once its own id on its log lines and published messages', async () => {
    const { source: out } = await queues();
    const publisher = createPublisher({ queueUrl: out, client: sqs });
    const handler = createSqsHandler<{ n: number }>({
      client: sqs,
      handle: async ({ body }) => {
        // Interleaved on purpose: the second record starts before the first logs.
        await new Promise((r) => setTimeout(r, body.n === 1 ? 30 : 0));
        logger.warn('handling', { n: body.n });
        await publisher.publish({ from: body.n });
      },
    });
    const arn = await arnOf(out);
    const record = (n: number, correlationId: string) =>
      sqsRecord({ messageId: `m-${n}`, body: JSON.stringify({ n }), eventSourceARN: arn, correlationId });
    const event = { Records: [record(1, 'corr-one'), record(2, 'corr-two')] } as SQSEvent;

    await handler(event, lambdaContext('events-worker'));

    const lines = emitted.warnings().filter((w) => w.message === 'handling');
    expect(lines.map((l) => [l.n, l.correlation_id]).sort()).toEqual([
      [1, 'corr-one'],
      [2, 'corr-two'],
    ]);
    const sent = await receiveAll(out);
    expect(
      sent.map((m) => [JSON.parse(m.Body!).from, m.MessageAttributes?.correlationId?.StringValue]).sort(),
    ).toEqual([
      [1, 'corr-one'],
      [2, 'corr-two'],
    ]);
  });
});

describe('a hung dependency ends as a batch item failure, not a function timeout', () => {
  it('answers in time when SQS itself hangs on the failure path (redrive policy lookup, retry delay)', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((socket) => sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const client = new SQSClient({
      endpoint: `http://127.0.0.1:${(hung.address() as { port: number }).port}`,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    const handler = createSqsHandler({
      client,
      timeMarginMs: 1_000,
      handle: () => {
        throw new InfraError('database down', { type: 'connection', component: 'db' });
      },
    });
    const event: SQSEvent = {
      Records: [
        sqsRecord({ messageId: 'm-1', body: '{}', eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q' }),
      ],
    };
    const context = { ...lambdaContext('events-worker'), getRemainingTimeInMillis: () => 3_000 };

    const started = Date.now();
    const response = await handler(event, context);

    // Answered before the function's own timeout would have stopped it.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    for (const socket of sockets) socket.destroy();
    client.destroy();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  it('reports a record still waiting when the invocation’s time is nearly up, and delays its retry', async () => {
    const { source } = await queues();
    const handler = createSqsHandler({
      client: sqs,
      timeMarginMs: 1_000,
      handle: ({ body }) => ((body as { hang: boolean }).hang ? new Promise<void>(() => {}) : undefined),
    });
    await createPublisher({ queueUrl: source, client: sqs }).publishBatch([
      { body: { hang: true } },
      { body: { hang: false } },
    ]);
    const messages: Message[] = [];
    await until(async () => {
      messages.push(...(await receiveAll(source)));
      return messages.length === 2;
    });
    const arn = await arnOf(source);
    const event: SQSEvent = {
      Records: messages.map((m) =>
        sqsRecord({
          messageId: m.MessageId!,
          receiptHandle: m.ReceiptHandle!,
          body: m.Body!,
          eventSourceARN: arn,
        }),
      ),
    };
    const context = { ...lambdaContext('events-worker'), getRemainingTimeInMillis: () => 3_000 };
    const hung = messages.find((m) => JSON.parse(m.Body!).hang)!;

    const started = Date.now();
    const response = await handler(event, context);

    // Answered before the function's own timeout would have stopped it.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: hung.MessageId }] });
  });
});
