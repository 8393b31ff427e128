// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.
// Least privilege held against the code: each function of the pipeline runs on the emulators through a recorder
// that notes every SQS call it makes (its event source mapping's included, which uses its role) and every binding
// it reads. What it did must be exactly what the synthesized template grants it and binds for it: a grant no
// code uses fails this test, and so does a call or a binding the template does not give.

import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DeleteParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../infra/lib/createApp.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { useTestDatabase } from '../support/postgres.ts';
import { recordEnvironmentReads, recordSqs, type SqsRecorder } from '../support/recording.ts';
import { queueDepth, startSqsContainer, until } from '../support/sqs.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
type Role = 'queue' | 'dlq';

/** IAM authorizes a batch call by its single action. */
const iamAction = (action: string) => `sqs:${action.replace(/Batch$/, '')}`;

const ENV = `grants-${process.pid}`;
const database = useTestDatabase();
const id = randomUUID().slice(0, 8);
const names = { queue: `lambda-infra-grants-${id}`, dlq: `lambda-infra-grants-${id}-dlq` };
const recorders: Partial<Record<'api' | 'worker', SqsRecorder>> = {};
let resources: Resources;

/** What the template grants and binds each function, by service name. */
function granted(service: string) {
  const [fnId, fn] = Object.entries(resources).find(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' &&
      r.Properties.Environment?.Variables?.LAMBDA_INFRA_SERVICE === service,
  )!;
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const roleOfQueue = (ref: any): Role | undefined => {
    const logical = ref?.['Fn::GetAtt']?.[0];
    const queue = resources[logical];
    if (queue?.Type !== 'AWS::SQS::Queue') return undefined;
    return queue.Properties.RedrivePolicy ? 'queue' : 'dlq';
  };
  const sqs = new Set<string>();
  const actions = new Set<string>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy' || !r.Properties.Roles.some((ref: any) => ref.Ref === roleId)) continue;
    for (const s of r.Properties.PolicyDocument.Statement) {
      for (const action of [s.Action].flat() as string[]) {
        actions.add(action);
        if (!action.startsWith('sqs:')) continue;
        for (const resource of [s.Resource].flat()) {
          const role = roleOfQueue(resource);
          if (role) sqs.add(`${action} ${role}`);
        }
      }
    }
  }
  const variables = Object.keys(fn.Properties.Environment.Variables).filter((v) =>
    v.startsWith('LAMBDA_INFRA_'),
  );
  return { fnId, sqs, actions, variables: new Set(variables) };
}

/** What a function did: its SQS calls as IAM actions on the pipeline's queues, and the bindings it read. */
function used(recorder: SqsRecorder, bindingsRead: Iterable<string>) {
  const roleOf: Record<string, Role> = { [names.queue]: 'queue', [names.dlq]: 'dlq' };
  const sqs = new Set(
    recorder.calls.filter((c) => roleOf[c.queue]).map((c) => `${iamAction(c.action)} ${roleOf[c.queue]}`),
  );
  return { sqs, bindings: new Set(bindingsRead) };
}

/** Read only with IAM authentication to the cache, which the stack uses and a local redis-server cannot. */
const IAM_ONLY = ['LAMBDA_INFRA_CACHE_USER', 'LAMBDA_INFRA_CACHE_NAME'];

function expectLeastPrivilege(service: string, did: ReturnType<typeof used>) {
  const grant = granted(service);
  if (grant.variables.has('LAMBDA_INFRA_CACHE_URL')) for (const v of IAM_ONLY) did.bindings.add(v);
  expect([...did.sqs].sort(), `${service}: SQS actions used vs granted`).toEqual([...grant.sqs].sort());
  expect([...did.bindings].sort(), `${service}: bindings read vs set by the stack`).toEqual(
    [...grant.variables].sort(),
  );
  // A cache or database binding read is a connection made: it needs its grant, and nothing else does.
  expect(grant.actions.has('elasticache:Connect'), `${service}: elasticache:Connect`).toBe(
    did.bindings.has('LAMBDA_INFRA_CACHE_URL'),
  );
  expect(grant.actions.has('rds-db:connect'), `${service}: rds-db:connect`).toBe(
    did.bindings.has('LAMBDA_INFRA_DB_HOST'),
  );
}

const results: Record<string, ReturnType<typeof used>> = {};

beforeAll(async () => {
  const app = await createApp({ env: 'dev' });
  resources = app.app.synth().getStackByName(app.stack.stackName).template.Resources;
  const emulator = inject('sqsEndpointUrl');
  recorders.api = await recordSqs(emulator);
  recorders.worker = await recordSqs(emulator);
  // The queues as the stack makes them: a source with a redrive policy to its dead-letter queue.
  const admin = new SQSClient({ endpoint: recorders.api.url });
  const dlq = (await admin.send(new CreateQueueCommand({ QueueName: names.dlq }))).QueueUrl!;
  const { Attributes } = await admin.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }),
  );
  const queue = (
    await admin.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 2 }),
        },
      }),
    )
  ).QueueUrl!;
  recorders.api.calls.length = 0;
  // The worker's retries, short: one delay of 1 s, then the last delivery dead-letters.
  const ssm = new SSMClient({});
  await ssm.send(
    new PutParameterCommand({
      Name: `/config/${ENV}/events-worker/retry`,
      Value: JSON.stringify({ baseDelaySeconds: 1, maxDelaySeconds: 1, jitter: 'none' }),
      Type: 'String',
      Overwrite: true,
    }),
  );
  ssm.destroy();

  const common = {
    AWS_ENDPOINT_URL_SSM: inject('ssmEndpointUrl'),
    LAMBDA_INFRA_ENV: ENV,
    LAMBDA_INFRA_CACHE_URL: inject('redisUrl'),
    ...database.bindings,
  };

  // events-api, in this process, through every route.
  const saved = { ...process.env };
  Object.assign(process.env, common, {
    AWS_ENDPOINT_URL_SQS: recorders.api.url,
    LAMBDA_INFRA_SERVICE: 'events-api',
    LAMBDA_INFRA_QUEUE_URL: queue,
    LAMBDA_INFRA_DLQ_URL: dlq,
  });
  const reads = recordEnvironmentReads('LAMBDA_INFRA_');
  try {
    const { handler } = await import('../../functions/events-api/src/handler.ts');
    const event = { type: 'grants.checked', source: 'test', payload: {} };
    const calls = [
      httpEvent({ body: event }),
      httpEvent({ body: event, headers: { 'idempotency-key': `k-${id}` } }),
      httpEvent({ path: '/events/batch', body: { events: [event, event] } }),
      httpEvent({ method: 'GET', path: `/events/${randomUUID()}` }),
      httpEvent({ method: 'GET', path: '/events/stats' }),
      httpEvent({ method: 'GET', path: '/health' }),
    ];
    for (const call of calls) await handler(call, lambdaContext('events-api'));
  } finally {
    reads.stop();
    process.env = saved;
  }
  results['events-api'] = used(recorders.api, reads.read);
  // The tracing back end is read once, when the observability module is first imported: in this process, by the
  // test's own imports, before the recording began. The worker below, a process of its own, shows it read.
  results['events-api'].bindings.add('LAMBDA_INFRA_TRACING');

  // events-worker, in a process of its own, with a database that refuses connections: each message is
  // retried once with a delay, then dead-lettered on its last delivery.
  const workerAdmin = new SQSClient({ endpoint: recorders.worker.url });
  // The same queues, by URLs that lead through the worker's recorder.
  const workerQueue = (await workerAdmin.send(new GetQueueUrlCommand({ QueueName: names.queue }))).QueueUrl!;
  const workerDlq = (await workerAdmin.send(new GetQueueUrlCommand({ QueueName: names.dlq }))).QueueUrl!;
  await workerAdmin.send(new SendMessageCommand({ QueueUrl: workerQueue, MessageBody: 'not json' }));
  workerAdmin.destroy();
  recorders.worker.calls.length = 0;
  const worker = await startSqsContainer({
    handler: 'functions/events-worker/src/handler.ts',
    queueUrl: workerQueue,
    functionName: 'events-worker',
    env: {
      ...common,
      AWS_ENDPOINT_URL_SQS: recorders.worker.url,
      LAMBDA_INFRA_SERVICE: 'events-worker',
      LAMBDA_INFRA_DB_PORT: '1',
      LAMBDA_INFRA_DLQ_URL: workerDlq,
    },
  });
  const probe = new SQSClient({ endpoint: emulator });
  try {
    await until(
      async () => (await queueDepth(probe, queue)) === 0 && (await queueDepth(probe, dlq)) === 5,
      30_000,
    );
  } finally {
    results['events-worker'] = used(recorders.worker, (await worker.stop()).bindingsRead);
    await Promise.all([queue, dlq].map((QueueUrl) => probe.send(new DeleteQueueCommand({ QueueUrl }))));
    probe.destroy();
    admin.destroy();
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(recorders).map((r) => r?.close()));
  const ssm = new SSMClient({});
  await ssm.send(new DeleteParametersCommand({ Names: [`/config/${ENV}/events-worker/retry`] }));
  ssm.destroy();
});

describe('each function is granted exactly what its code uses', () => {
  it.each(['events-api', 'events-worker'])('%s', (service) => {
    expectLeastPrivilege(service, results[service]!);
  });
});
