import { GetQueueAttributesCommand, type Message } from '@aws-sdk/client-sqs';
import { InfraError } from '@lambda-infra/shared/errors';
import { startPoller } from '@lambda-infra/shared/local/sqs';
import {
  backoffSeconds,
  createPublisher,
  createSqsHandler,
  DLQ_REASON_ATTRIBUTES,
} from '@lambda-infra/shared/mq';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { captureConsole } from '../support/console.ts';
import {
  fauxqsClient,
  receiveNow,
  sourceWithRedrivePolicy,
  until,
  usePoller,
  useQueueCleanup,
} from '../support/sqs.ts';

const sqs = fauxqsClient();
const made = useQueueCleanup(sqs);
const poller = usePoller();

const queues = (maxReceiveCount = 3) => sourceWithRedrivePolicy(sqs, made, { maxReceiveCount });
const drain = (url: string) => receiveNow(sqs, url);

describe('createSqsHandler driven by the local poller', () => {
  it('sends a schema-invalid message to the DLQ on its first delivery with its reason; the rest are handled once', async () => {
    const emitted = captureConsole();
    const { source, dlq } = await queues();
    const handled: number[] = [];
    const handler = createSqsHandler({
      client: sqs,
      schema: z.object({ n: z.number().int() }),
      handle: ({ body }) => {
        handled.push(body.n);
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publishBatch([
      { body: { n: 1 } },
      { body: { n: 'two' } },
      { body: { n: 3 } },
      { body: { n: 4 } },
    ]);

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs });
    const deadLettered: Message[] = [];
    await until(async () => {
      deadLettered.push(...(await drain(dlq)));
      return handled.length === 3 && deadLettered.length === 1;
    });
    await new Promise((r) => setTimeout(r, 300));
    await poller.current.stop();
    const left = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: source,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const metricNames = emitted.metrics().map((m) => m.name);
    emitted.restore();

    expect(handled.sort()).toEqual([1, 3, 4]);
    expect(JSON.parse(deadLettered[0]!.Body!)).toEqual({ n: 'two' });
    const reasons = deadLettered[0]!.MessageAttributes!;
    expect(reasons[DLQ_REASON_ATTRIBUTES.errorType]?.StringValue).toBe('validation');
    expect(reasons[DLQ_REASON_ATTRIBUTES.errorMessage]?.StringValue).toMatch(/^message body is invalid: n: /);
    expect(reasons[DLQ_REASON_ATTRIBUTES.receiveCount]?.StringValue).toBe('1');
    expect(reasons[DLQ_REASON_ATTRIBUTES.sourceQueue]?.StringValue).toMatch(/lambda-infra-test-.*$/);
    expect(left.Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
    expect(metricNames).toEqual(expect.arrayContaining(['EventsHandled', 'EventsDeadLettered']));
  });

  it('handles once a message that fails twice, with its deliveries spaced by the backoff schedule', async () => {
    const emitted = captureConsole();
    const { source } = await queues();
    const deliveries: { at: number; count: number }[] = [];
    let handled = 0;
    const retry = { baseDelaySeconds: 1, jitter: 'none' as const };
    const handler = createSqsHandler({
      client: sqs,
      retry,
      handle: ({ receiveCount }) => {
        deliveries.push({ at: Date.now(), count: receiveCount });
        if (receiveCount < 3)
          throw new InfraError('dependency down', { type: 'connection', component: 'db' });
        handled++;
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ order: 1 });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs });
    await until(() => handled === 1);
    await new Promise((r) => setTimeout(r, 300));
    emitted.restore();

    expect(deliveries.map((d) => d.count)).toEqual([1, 2, 3]);
    expect(handled).toBe(1);
    const gaps = [deliveries[1]!.at - deliveries[0]!.at, deliveries[2]!.at - deliveries[1]!.at];
    const schedule = [backoffSeconds(1, retry), backoffSeconds(2, retry)].map((s) => s * 1_000);
    expect(schedule).toEqual([1_000, 2_000]);
    // Each delivery waited out its delay; how much longer depends on the machine, and is not asserted.
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(schedule[i]! - 50);
    });
  }, 20_000);

  it('lets a message that always fails reach the DLQ after maxReceiveCount, by the queue redrive policy', async () => {
    const emitted = captureConsole();
    const { source, dlq } = await queues(3);
    let deliveries = 0;
    const handler = createSqsHandler({
      client: sqs,
      retry: { baseDelaySeconds: 1, maxDelaySeconds: 1, jitter: 'none' },
      handle: () => {
        deliveries++;
        throw new InfraError('still down', { type: 'connection', component: 'db' });
      },
    });
    await createPublisher({ queueUrl: source, client: sqs }).publish({ doomed: true });

    poller.current = await startPoller({ queueUrl: source, handler, client: sqs });
    const deadLettered: Message[] = [];
    await until(async () => {
      deadLettered.push(...(await drain(dlq)));
      return deadLettered.length === 1;
    });
    emitted.restore();

    expect(deliveries).toBe(3);
    expect(JSON.parse(deadLettered[0]!.Body!)).toEqual({ doomed: true });
  });

  it('computes the backoff from the receive count: doubling, capped, equal jitter by default, never 0', () => {
    expect(
      [1, 2, 3, 4, 10].map((n) =>
        backoffSeconds(n, { baseDelaySeconds: 2, maxDelaySeconds: 60, jitter: 'none' }),
      ),
    ).toEqual([2, 4, 8, 16, 60]);
    expect(backoffSeconds(3, { baseDelaySeconds: 2 }, () => 1)).toBe(8);
    expect(backoffSeconds(3, { baseDelaySeconds: 2 }, () => 0)).toBe(4);
    expect(backoffSeconds(1, { baseDelaySeconds: 1 }, () => 0)).toBe(1);
  });
});
