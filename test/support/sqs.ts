import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, inject } from 'vitest';

/** An SQS client for the fauxqs the global setup started; no SDK retries, so tests see each call as made. */
export function fauxqsClient(): SQSClient {
  return new SQSClient({
    endpoint: inject('sqsEndpointUrl'),
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
}

/** A list to push the test's queue URLs to; every queue on it is deleted after each test. */
export function useQueueCleanup(client: SQSClient): string[] {
  const made: string[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((QueueUrl) => client.send(new DeleteQueueCommand({ QueueUrl }))));
  });
  return made;
}

/** Messages in the queue, visible or in flight. */
export async function queueDepth(client: SQSClient, url: string): Promise<number> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes!.ApproximateNumberOfMessages) +
    Number(Attributes!.ApproximateNumberOfMessagesNotVisible)
  );
}

/** A source queue and a dead-letter queue beside it (no redrive policy between them), both cleaned up. */
export async function sourceWithDeadLetterQueue(
  client: SQSClient,
  made: string[],
): Promise<{ source: string; dlq: string; sourceArn: string }> {
  const id = randomUUID().slice(0, 8);
  const source = (await client.send(new CreateQueueCommand({ QueueName: `lambda-infra-test-${id}` })))
    .QueueUrl!;
  const dlq = (await client.send(new CreateQueueCommand({ QueueName: `lambda-infra-test-${id}-dlq` })))
    .QueueUrl!;
  made.push(source, dlq);
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: source, AttributeNames: ['QueueArn'] }),
  );
  return { source, dlq, sourceArn: Attributes!.QueueArn! };
}
