// One SQS-driven function "container" in a process of its own, as Lambda runs it: the handler module named by
// CONTAINER_HANDLER, driven by the local poller on CONTAINER_QUEUE_URL, with its bindings in the environment.
// Started by tests with `startSqsContainer`; it says `ready` over IPC and stops on `stop`.

import { startPoller } from '@lambda-infra/shared/local/sqs';

import { recordEnvironmentReads } from './recording.ts';

const { CONTAINER_HANDLER, CONTAINER_QUEUE_URL, CONTAINER_FUNCTION, CONTAINER_BATCH_SIZE } = process.env;
// The bindings the function's code reads, reported when it stops.
const bindings = recordEnvironmentReads('LAMBDA_INFRA_');
const { handler } = (await import(CONTAINER_HANDLER!)) as {
  handler: Parameters<typeof startPoller>[0]['handler'];
};

const poller = await startPoller({
  queueUrl: CONTAINER_QUEUE_URL!,
  handler,
  functionName: CONTAINER_FUNCTION ?? 'function',
  batchSize: Number(CONTAINER_BATCH_SIZE ?? 10),
  timeoutSeconds: 10,
  waitTimeSeconds: 1,
});
process.send?.({ ready: true });
process.once('disconnect', () => process.exit(1));
process.on('message', async (message: { stop?: boolean }) => {
  if (!message.stop) return;
  await poller.stop();
  process.send?.({ stopped: true, invocations: poller.invocations, bindingsRead: [...bindings.read] });
  process.exit(0);
});
