import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createApp, type InfraApp } from '../../infra/lib/createApp.ts';
import { useSsmEndpoint } from '../support/aws.ts';
import { httpEvent } from '../support/events.ts';
import { invokeTask as invoke, layOutTask, removeTasks } from '../support/lambda.ts';
import { useTestDatabase } from '../support/postgres.ts';
import { fauxqsClient, queueDepth } from '../support/sqs.ts';

let app: Promise<InfraApp> | undefined;

/** A function of the dev app, bundled by NodejsFunction as synth bundles it, laid out beside the layer. */
async function layOut(name: 'events-api' | 'db-migrate'): Promise<string> {
  app ??= createApp({ env: 'dev' });
  const { stack } = await app;
  return layOutTask(name, stack.functions[name].bundleDir);
}

describe('the bundles, run as Lambda lays them out', () => {
  const ssm = useSsmEndpoint();
  const database = useTestDatabase();
  afterAll(removeTasks);

  it('events-api takes an event and reports its dependencies healthy, through the layer', async () => {
    const task = await layOut('events-api');
    const sqs = fauxqsClient();
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `lambda-infra-test-bundle-${process.pid}` }),
    );
    const env = {
      LAMBDA_INFRA_ENV: 'dev',
      LAMBDA_INFRA_SERVICE: 'events-api',
      AWS_ENDPOINT_URL_SSM: ssm.endpoint.url,
      AWS_ENDPOINT_URL_SQS: inject('sqsEndpointUrl'),
      LAMBDA_INFRA_QUEUE_URL: QueueUrl!,
      ...database.bindings,
    };
    try {
      const posted = await invoke(
        task,
        httpEvent({ body: { type: 'order.placed', source: 'shop', payload: {} } }),
        env,
      );
      const health = await invoke(task, httpEvent({ method: 'GET', path: '/health' }), env);

      expect(posted.result.statusCode).toBe(202);
      expect(await queueDepth(sqs, QueueUrl!)).toBe(1);
      expect(health.result.statusCode).toBe(200);
      expect(JSON.parse(health.result.body)).toMatchObject({ status: 'healthy' });
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    }
  }, 60_000);

  it('db-migrate applies the migrations and grants the app user, with pg and kysely from the layer', async () => {
    const task = await layOut('db-migrate');
    const { result } = await invoke(task, {}, database.bindings);
    expect(result).toMatchObject({ direction: 'up', applied: ['0001_events', '0002_event_counts_hourly'] });
  }, 60_000);
});
