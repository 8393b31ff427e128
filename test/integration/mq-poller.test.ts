// The local poller behaves like the event source mapping: long polling, errors logged and backed off, the
// function's own timeout; and the emulator hands out queue URLs the SDK can use.
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startPoller, startSqsEmulator } from '@lambda-infra/shared/local/sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { captureConsole, type Emitted } from '../support/console.ts';
import { fauxqsClient, queueDepth, usePoller, useQueueCleanup } from '../support/sqs.ts';

const sqs = fauxqsClient();
const made = useQueueCleanup(sqs);
const poller = usePoller();
let emitted: Emitted;

beforeEach(() => {
  emitted = captureConsole();
});
afterEach(() => emitted.restore());

async function queue(attributes: Record<string, string> = {}) {
  const url = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: `lambda-infra-test-${randomUUID().slice(0, 8)}`,
        Attributes: attributes,
      }),
    )
  ).QueueUrl!;
  made.push(url);
  return url;
}

/** A client that counts the ReceiveMessage calls it makes. */
function countingClient(endpoint = inject('sqsEndpointUrl')) {
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
  const counts = { receives: 0 };
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'ReceiveMessageCommand') counts.receives++;
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, counts };
}

describe('startPoller', () => {
  it('long-polls an idle queue instead of asking it many times a second', async () => {
    const url = await queue();
    const { client, counts } = countingClient();

    poller.current = await startPoller({
      queueUrl: url,
      client,
      handler: async () => undefined,
      waitTimeSeconds: 2,
    });
    await new Promise((r) => setTimeout(r, 3_000));
    await poller.current.stop();
    poller.current = undefined;

    // 2 s per empty receive: two or three calls in 3 s, against about 135 at 20 ms apart.
    expect(counts.receives).toBeGreaterThanOrEqual(1);
    expect(counts.receives).toBeLessThanOrEqual(4);
    client.destroy();
  });

  it('hands a message to the function as soon as it arrives while long-polling', async () => {
    const url = await queue();
    const seen: string[] = [];
    poller.current = await startPoller({
      queueUrl: url,
      client: sqs,
      waitTimeSeconds: 20,
      handler: async (event) => {
        seen.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
    });
    await new Promise((r) => setTimeout(r, 200));

    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"hello"' }));
    await vi.waitFor(() => expect(seen).toEqual(['"hello"']), { timeout: 5_000 });
  });

  it('runs up to maxConcurrency batches at once, as the mapping scales, and no more', async () => {
    const url = await queue();
    let running = 0;
    let most = 0;
    let handled = 0;
    poller.current = await startPoller({
      queueUrl: url,
      client: sqs,
      batchSize: 1,
      maxConcurrency: 3,
      waitTimeSeconds: 1,
      handler: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 300));
        running--;
        handled++;
        return { batchItemFailures: [] };
      },
    });
    for (let i = 0; i < 9; i++)
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `"${i}"` }));
    await vi.waitFor(() => expect(handled).toBe(9), { timeout: 10_000 });
    expect(most).toBe(3);
    await vi.waitFor(async () => expect(await queueDepth(sqs, url)).toBe(0));
  });

  it('without ReportBatchItemFailures, deletes the whole batch when the function returns, failures and all', async () => {
    const url = await queue({ VisibilityTimeout: '1' });
    let deliveries = 0;
    poller.current = await startPoller({
      queueUrl: url,
      client: sqs,
      reportBatchItemFailures: false,
      waitTimeSeconds: 1,
      handler: async (event) => {
        deliveries += event.Records.length;
        return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"once"' }));
    await vi.waitFor(async () => expect(await queueDepth(sqs, url)).toBe(0), { timeout: 5_000 });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(deliveries).toBe(1);
  });

  it('logs receive errors and backs off, then recovers when the queue answers again', async () => {
    const emulator = await startSqsEmulator();
    const { client, counts } = countingClient(emulator.url);
    const url = (await client.send(new CreateQueueCommand({ QueueName: 'flaky' }))).QueueUrl!;
    const seen: string[] = [];
    poller.current = await startPoller({
      queueUrl: url,
      client,
      waitTimeSeconds: 1,
      handler: async (event) => {
        seen.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
    });
    await emulator.stop();

    await new Promise((r) => setTimeout(r, 2_000));
    const whileDown = counts.receives;
    const back = await startSqsEmulator({ port: emulator.port });
    await client.send(new CreateQueueCommand({ QueueName: 'flaky' }));
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'after' }));
    await vi.waitFor(() => expect(seen).toEqual(['after']), { timeout: 10_000 });
    await poller.current.stop();
    poller.current = undefined;

    const warnings = emitted
      .warnings()
      .filter((w) => w.message === 'could not receive from the queue; polling again after a pause');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings[0]).toMatchObject({ error: expect.objectContaining({ type: 'connection' }) });
    // Backed off: 200, 400, 800 ms … rather than a tight loop of failures.
    expect(whileDown).toBeLessThanOrEqual(8);
    client.destroy();
    await back.stop();
  });

  it('counts the remaining time down from the function timeout and abandons an invocation past it', async () => {
    const url = await queue({ VisibilityTimeout: '30' });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{}' }));
    const remaining: number[] = [];
    poller.current = await startPoller({
      queueUrl: url,
      client: sqs,
      timeoutSeconds: 1,
      waitTimeSeconds: 1,
      handler: (_event, context) => {
        remaining.push(context.getRemainingTimeInMillis());
        return new Promise<SQSBatchResponse>(() => {}); // never answers
      },
    });

    await vi.waitFor(
      () =>
        expect(
          emitted
            .warnings()
            .some((w) => w.message === 'the function timed out; its batch is left to the visibility timeout'),
        ).toBe(true),
      { timeout: 5_000 },
    );

    expect(remaining[0]).toBeGreaterThan(0);
    expect(remaining[0]).toBeLessThanOrEqual(1_000);
    // Not deleted: the message waits out its visibility timeout, as after a Lambda timeout.
    expect(await queueDepth(sqs, url)).toBe(1);
  });
});

describe('startSqsEmulator', () => {
  it('hands out queue URLs on its own address, which the SDK can call without a warning', async () => {
    const emulator = await startSqsEmulator();
    const client = new SQSClient({
      endpoint: emulator.url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    const warn = vi.spyOn(console, 'warn');

    const created = (await client.send(new CreateQueueCommand({ QueueName: 'urls' }))).QueueUrl!;
    const looked = (await client.send(new GetQueueUrlCommand({ QueueName: 'urls' }))).QueueUrl!;
    await client.send(new SendMessageCommand({ QueueUrl: created, MessageBody: 'x' }));

    expect(created).toBe(`${emulator.url}/000000000000/urls`);
    expect(looked).toBe(created);
    expect(new URL(emulator.url).hostname).toBe('127.0.0.1');
    expect(warn.mock.calls.flat().join(' ')).not.toMatch(/Invalid URL|differs from SQSClient/);
    client.destroy();
    await emulator.stop();
  });
});
