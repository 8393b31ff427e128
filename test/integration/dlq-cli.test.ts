import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DLQ_REASON_ATTRIBUTES } from '@lambda-infra/shared/mq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { fauxqsClient, sourceWithDeadLetterQueue, useQueueCleanup } from '../support/sqs.ts';

const BIN = resolve('shared/bin/lambda-infra.ts');
const endpoint = inject('sqsEndpointUrl');
const sqs = fauxqsClient();
const made = useQueueCleanup(sqs);

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AWS_ENDPOINT_URL_SQS: endpoint, AWS_REGION: 'us-east-1' } },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function deadLetterQueue() {
  const { source, dlq, sourceArn } = await sourceWithDeadLetterQueue(sqs, made);
  for (const [n, errorType] of [
    [1, 'connection'],
    [2, 'validation'],
  ] as const) {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlq,
        MessageBody: JSON.stringify({ n }),
        MessageAttributes: {
          [DLQ_REASON_ATTRIBUTES.errorType]: { DataType: 'String', StringValue: errorType },
          [DLQ_REASON_ATTRIBUTES.sourceQueue]: { DataType: 'String', StringValue: sourceArn },
        },
      }),
    );
  }
  return { source, dlq };
}

const depth = async (url: string) =>
  Number(
    (
      await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      )
    ).Attributes!.ApproximateNumberOfMessages,
  );

afterEach(async () => {});

describe('lambda-infra dlq', () => {
  it('inspect shows the reasons and leaves the messages; redrive moves the matching ones and counts', async () => {
    const { source, dlq } = await deadLetterQueue();

    const inspected = await cli('dlq', 'inspect', '--queue', dlq);
    const moved = await cli('dlq', 'redrive', '--queue', dlq, '--error-type', 'connection');

    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain('"errorType":"validation"');
    expect(inspected.stdout).toContain('2 message(s) shown; they stay in the queue');
    expect(moved.stdout.trim().split('\n').at(-1)).toBe('1 moved, 1 skipped, 0 failed');
    expect(await depth(source)).toBe(1);
    expect(await depth(dlq)).toBe(1);
  });

  it('purge asks for --yes when no one can answer, and deletes nothing without it', async () => {
    const { dlq } = await deadLetterQueue();

    const refused = await cli('dlq', 'purge', '--queue', dlq);
    const before = await depth(dlq);
    const purged = await cli('dlq', 'purge', '--queue', dlq, '--yes');

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('deletes every message: confirm with --yes');
    expect(before).toBe(2);
    expect(purged.code).toBe(0);
    expect(await depth(dlq)).toBe(0);
  });
});
