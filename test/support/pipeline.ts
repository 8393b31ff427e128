// The events pipeline on real servers, for end-to-end tests: a source queue with its redrive policy on the SQS
// emulator, the test database migrated, events-api imported into the test's process with its bindings in the
// environment, and events-worker in a process of its own, driven by the local poller as the event source mapping
// drives it. Set up before the file's tests and torn down after them.

import { DeleteQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createDb, Migrations, migrationsFromFolder } from '@lambda-infra/shared/db';
import { afterAll, beforeAll, inject } from 'vitest';
import { useTestDatabase } from './postgres.ts';
import { fauxqsClient, type SqsContainer, sourceWithRedrivePolicy, startSqsContainer } from './sqs.ts';

export interface EventsPipeline {
  /** The `LAMBDA_INFRA_ENV` both functions run in. */
  readonly env: string;
  readonly sqs: SQSClient;
  /** Set before the file's tests run. */
  queues: { source: string; dlq: string };
  db: ReturnType<typeof createDb>;
  api: typeof import('../../functions/events-api/src/handler.ts');
  worker: SqsContainer;
}

/**
 * The pipeline for this file's tests, in the environment `env`; `extra` gives both functions variables beyond
 * their bindings, read once the hooks registered before this call have run.
 */
export function useEventsPipeline(
  env: string,
  extra: () => Record<string, string> = () => ({}),
): EventsPipeline {
  const database = useTestDatabase();
  const made: string[] = [];
  const pipeline = { env, sqs: fauxqsClient() } as EventsPipeline;
  const saved = { ...process.env };

  beforeAll(async () => {
    pipeline.queues = await sourceWithRedrivePolicy(pipeline.sqs, made, { maxReceiveCount: 3 });
    pipeline.db = createDb(database.options);
    await new Migrations(pipeline.db, migrationsFromFolder('functions/db-migrate/migrations')).up();
    const bindings = {
      AWS_ENDPOINT_URL_SSM: inject('ssmEndpointUrl'),
      AWS_ENDPOINT_URL_SQS: inject('sqsEndpointUrl'),
      LAMBDA_INFRA_ENV: env,
      LAMBDA_INFRA_CACHE_URL: inject('redisUrl'),
      ...database.bindings,
      LAMBDA_INFRA_QUEUE_URL: pipeline.queues.source,
      LAMBDA_INFRA_DLQ_URL: pipeline.queues.dlq,
      ...extra(),
    };
    Object.assign(process.env, bindings, {
      LAMBDA_INFRA_SERVICE: 'events-api',
      POWERTOOLS_SERVICE_NAME: 'events-api',
    });
    pipeline.api = await import('../../functions/events-api/src/handler.ts');
    pipeline.worker = await startSqsContainer({
      handler: 'functions/events-worker/src/handler.ts',
      queueUrl: pipeline.queues.source,
      functionName: 'events-worker',
      env: { ...bindings, LAMBDA_INFRA_SERVICE: 'events-worker', POWERTOOLS_SERVICE_NAME: 'events-worker' },
    });
  });

  afterAll(async () => {
    await pipeline.worker?.stop();
    await pipeline.db?.close();
    await Promise.all(made.map((QueueUrl) => pipeline.sqs.send(new DeleteQueueCommand({ QueueUrl }))));
    process.env = saved;
  });

  return pipeline;
}
