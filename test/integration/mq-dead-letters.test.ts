import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Poller, startPoller } from '@lambda-infra/shared/local/sqs';
import {
  createSqsHandler,
  DLQ_REASON_ATTRIBUTES,
  inspectDeadLetters,
  purgeDeadLetters,
  redrive,
} from '@lambda-infra/shared/mq';
import { afterEach, describe, expect, it } from 'vitest';
import { captureConsole } from '../support/console.ts';
import { fauxqsClient, queueDepth, sourceWithDeadLetterQueue, useQueueCleanup } from '../support/sqs.ts';

const sqs = fauxqsClient();
const made = useQueueCleanup(sqs);
let poller: Poller | undefined;

async function setup() {
  const { source, dlq, sourceArn } = await sourceWithDeadLetterQueue(sqs, made);
  const letter = (body: unknown, errorType: string, tenant: string) =>
    sqs.send(
      new SendMessageCommand({
        QueueUrl: dlq,
        MessageBody: JSON.stringify(body),
        MessageAttributes: {
          tenant: { DataType: 'String', StringValue: tenant },
          [DLQ_REASON_ATTRIBUTES.errorType]: { DataType: 'String', StringValue: errorType },
          [DLQ_REASON_ATTRIBUTES.errorMessage]: {
            DataType: 'String',
            StringValue: `failed with ${errorType}`,
          },
          [DLQ_REASON_ATTRIBUTES.sourceQueue]: { DataType: 'String', StringValue: sourceArn },
          [DLQ_REASON_ATTRIBUTES.receiveCount]: { DataType: 'Number', StringValue: '1' },
        },
      }),
    );
  await letter({ n: 1 }, 'connection', 'acme');
  await letter({ n: 2 }, 'validation', 'acme');
  await letter({ n: 3 }, 'connection', 'globex');
  return { source, dlq };
}

const depth = (url: string) => queueDepth(sqs, url);

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

describe('dead-letter tools', () => {
  it('inspect reads the messages with their reasons and leaves them in the queue', async () => {
    const { dlq } = await setup();

    const letters = await inspectDeadLetters({ queueUrl: dlq, max: 10, client: sqs });

    expect(letters).toHaveLength(3);
    expect(letters.map((l) => l.reason.errorType).sort()).toEqual(['connection', 'connection', 'validation']);
    expect(letters[0]?.attributes).toHaveProperty('tenant');
    expect(letters[0]?.attributes).not.toHaveProperty(DLQ_REASON_ATTRIBUTES.errorType);
    expect(await depth(dlq)).toBe(3);
  });

  it('selective redrive moves back only the matching messages, and the consumer then handles them', async () => {
    const emitted = captureConsole();
    const { source, dlq } = await setup();
    const progress: number[] = [];

    const report = await redrive({
      from: dlq,
      filter: { errorType: 'connection', attribute: { name: 'tenant', value: 'acme' } },
      client: sqs,
      onProgress: (p) => progress.push(p.moved),
    });
    const handled: unknown[] = [];
    poller = await startPoller({
      queueUrl: source,
      client: sqs,
      handler: createSqsHandler({
        client: sqs,
        handle: ({ body, record }) => {
          handled.push({ body, tenant: record.messageAttributes.tenant?.stringValue });
        },
      }),
    });
    for (let i = 0; i < 200 && handled.length < 1; i++) await new Promise((r) => setTimeout(r, 25));
    const left = await inspectDeadLetters({ queueUrl: dlq, client: sqs });
    emitted.restore();

    expect(report).toEqual({ moved: 1, skipped: 2, failed: 0 });
    expect(progress.at(-1)).toBe(1);
    expect(handled).toEqual([{ body: { n: 1 }, tenant: 'acme' }]);
    expect(left.map((l) => JSON.parse(l.body).n).sort()).toEqual([2, 3]);
  });

  it('redrives at most max messages', async () => {
    const { source, dlq } = await setup();

    const report = await redrive({ from: dlq, max: 2, client: sqs });

    expect(report).toEqual({ moved: 2, skipped: 1, failed: 0 });
    expect(await depth(source)).toBe(2);
    expect(await depth(dlq)).toBe(1);
  });

  it('purge empties the queue', async () => {
    const { dlq } = await setup();

    await purgeDeadLetters({ queueUrl: dlq, client: sqs });

    expect(await depth(dlq)).toBe(0);
  });
});
