// The SQS consumer makes its SQS client at its first call, not with the handler: a cold start pays for no client,
// and a container whose records all succeed never makes one. Counted on the SDK's own class, against fauxqs.
import { DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { InfraError } from '@lambda-infra/shared/errors';
import { createSqsHandler } from '@lambda-infra/shared/mq';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { captureConsole } from '../support/console.ts';
import { lambdaContext, sqsRecord } from '../support/events.ts';
import { fauxqsClient, queueArn, queueDepth, sourceWithRedrivePolicy } from '../support/sqs.ts';

const made = vi.hoisted(() => ({ clients: 0 }));
vi.mock('@aws-sdk/client-sqs', async (original) => {
  const sdk = await original<typeof import('@aws-sdk/client-sqs')>();
  class CountedClient extends sdk.SQSClient {
    constructor(...args: ConstructorParameters<typeof sdk.SQSClient>) {
      super(...args);
      made.clients++;
    }
  }
  return { ...sdk, SQSClient: CountedClient };
});

const sqs = fauxqsClient();
const queues: string[] = [];
afterAll(async () => {
  await Promise.all(queues.map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
});

describe('createSqsHandler: the SQS client, made on first use', () => {
  it('makes none with the handler or for a batch that succeeds, and one, kept, at the first dead-letter', async () => {
    process.env.AWS_ENDPOINT_URL_SQS = inject('sqsEndpointUrl');
    const emitted = captureConsole();
    try {
      const { source, dlq } = await sourceWithRedrivePolicy(sqs, queues, { maxReceiveCount: 3 });
      const arn = await queueArn(sqs, source);
      const before = made.clients;
      const handler = createSqsHandler<{ ok: boolean }>({
        handle: ({ body }) => {
          if (!body.ok) throw new InfraError('not ok', { type: 'validation', component: 'worker' });
        },
      });
      const batch = (id: string, ok: boolean) => ({
        Records: [sqsRecord({ messageId: id, body: JSON.stringify({ ok }), eventSourceARN: arn })],
      });

      expect(made.clients - before).toBe(0);
      expect(await handler(batch('m-1', true), lambdaContext('worker'))).toEqual({ batchItemFailures: [] });
      expect(made.clients - before).toBe(0);

      expect(await handler(batch('m-2', false), lambdaContext('worker'))).toEqual({ batchItemFailures: [] });
      expect(await handler(batch('m-3', false), lambdaContext('worker'))).toEqual({ batchItemFailures: [] });
      expect(made.clients - before).toBe(1);
      expect(await queueDepth(sqs, dlq)).toBe(2);
    } finally {
      emitted.restore();
    }
  });
});
