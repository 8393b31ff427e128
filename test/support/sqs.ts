import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Poller } from '@lambda-infra/shared/local/sqs';
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

/** The ARN of a queue. */
export async function queueArn(client: SQSClient, url: string): Promise<string> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
}

/**
 * A source queue whose redrive policy moves a message to its dead-letter queue after `maxReceiveCount`
 * receives, both standard or both FIFO, both cleaned up.
 */
export async function sourceWithRedrivePolicy(
  client: SQSClient,
  made: string[],
  options: { maxReceiveCount?: number; fifo?: boolean; contentBased?: boolean } = {},
): Promise<{ source: string; dlq: string }> {
  const id = randomUUID().slice(0, 8);
  const suffix = options.fifo ? '.fifo' : '';
  const fifo: Record<string, string> = options.fifo
    ? { FifoQueue: 'true', ContentBasedDeduplication: String(options.contentBased ?? false) }
    : {};
  const dlq = (
    await client.send(
      new CreateQueueCommand({ QueueName: `lambda-infra-test-${id}-dlq${suffix}`, Attributes: fifo }),
    )
  ).QueueUrl!;
  made.push(dlq);
  const source = (
    await client.send(
      new CreateQueueCommand({
        QueueName: `lambda-infra-test-${id}${suffix}`,
        Attributes: {
          ...fifo,
          VisibilityTimeout: '30',
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: await queueArn(client, dlq),
            maxReceiveCount: options.maxReceiveCount ?? 3,
          }),
        },
      }),
    )
  ).QueueUrl!;
  made.push(source);
  return { source, dlq };
}

/** Up to 10 messages visible now, with their attributes; they are hidden for the queue's visibility timeout. */
export async function receiveNow(client: SQSClient, url: string): Promise<Message[]> {
  const { Messages = [] } = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
      WaitTimeSeconds: 0,
    }),
  );
  return Messages;
}

/** Polls `condition` every 25 ms until it holds, or fails after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The test's poller, stopped after each test; set `current` to the one it starts. */
export function usePoller(): { current: Poller | undefined } {
  const slot: { current: Poller | undefined } = { current: undefined };
  afterEach(async () => {
    await slot.current?.stop();
    slot.current = undefined;
  });
  return slot;
}

export interface SqsContainer {
  /** Where its output went. */
  readonly log: string;
  /** Stops it; resolves with the bindings (LAMBDA_INFRA_* variables) its code read. */
  stop(): Promise<{ bindingsRead: string[] }>;
}

/**
 * A function driven by the local poller in a process of its own (its own module state, config and clients, as
 * a Lambda container has), with `env` as its environment; stopped, by its pid, after the test file.
 */
export async function startSqsContainer(options: {
  handler: string;
  queueUrl: string;
  functionName: string;
  env: Record<string, string>;
}): Promise<SqsContainer> {
  const { fork } = await import('node:child_process');
  const { openSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join, resolve } = await import('node:path');
  const log = join(
    tmpdir(),
    `lambda-infra-${options.functionName}-${process.pid}-${randomUUID().slice(0, 8)}.log`,
  );
  const out = openSync(log, 'w');
  const child = fork(resolve('test/support/sqs-container.ts'), {
    env: {
      ...process.env,
      ...options.env,
      CONTAINER_HANDLER: resolve(options.handler),
      CONTAINER_QUEUE_URL: options.queueUrl,
      CONTAINER_FUNCTION: options.functionName,
    },
    stdio: ['ignore', out, out, 'ipc'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  await new Promise<void>((ready, fail) => {
    child.once('message', () => ready());
    child.once('exit', (code) =>
      fail(new Error(`${options.functionName} exited with ${code} before it was ready; see ${log}`)),
    );
  });
  return {
    log,
    async stop() {
      if (child.exitCode !== null) return { bindingsRead: [] };
      const report = new Promise<{ bindingsRead: string[] }>((r) =>
        child.on('message', (m: { stopped?: boolean; bindingsRead?: string[] }) => {
          if (m.stopped) r({ bindingsRead: m.bindingsRead ?? [] });
        }),
      );
      child.send({ stop: true });
      const stopped = await Promise.race([
        report,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000)),
      ]);
      if (child.exitCode === null) kill();
      process.off('exit', kill);
      return stopped ?? { bindingsRead: [] };
    },
  };
}
