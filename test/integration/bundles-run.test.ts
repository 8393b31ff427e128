// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.
import { execFile } from 'node:child_process';
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BUILD_DIR, bundleLayer } from '../../infra/lib/bundling.ts';
import { createApp, type InfraApp } from '../../infra/lib/createApp.ts';
import { useSsmEndpoint } from '../support/aws.ts';
import { httpEvent, lambdaContext } from '../support/events.ts';
import { useTestDatabase } from '../support/postgres.ts';
import { fauxqsClient, queueDepth } from '../support/sqs.ts';

// A function as Lambda lays it out: its bundle in a task folder, the layer's packages beside it (the runtime
// adds /opt/nodejs/node_modules to resolution). The repository's node_modules, further up, stands in for the
// SDK the runtime provides. Each run is a fresh Node process, as a cold start is.
const TASKS = join(BUILD_DIR, 'tasks');

let app: Promise<InfraApp> | undefined;

/** A function of the dev app, bundled by NodejsFunction as synth bundles it, in a task folder beside the layer. */
async function layOut(name: 'events-api' | 'db-migrate'): Promise<string> {
  app ??= createApp({ env: 'dev' });
  const [layer, { stack }] = await Promise.all([bundleLayer(), app]);
  const task = join(TASKS, name);
  await rm(task, { recursive: true, force: true });
  await mkdir(task, { recursive: true });
  await cp(join(stack.functions[name].bundleDir, 'index.mjs'), join(task, 'index.mjs'));
  await symlink(join(layer.dir, 'nodejs/node_modules'), join(task, 'node_modules'), 'dir');
  return task;
}

function invoke(
  task: string,
  event: unknown,
  env: Record<string, string>,
): Promise<{ result: any; stderr: string }> {
  const script = `
    const { handler } = await import(${JSON.stringify(join(task, 'index.mjs'))});
    const result = await handler(JSON.parse(process.argv[1]), JSON.parse(process.argv[2]));
    process.stdout.write('\\n@@' + JSON.stringify(result));
    process.exit(0);`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(event), JSON.stringify(lambdaContext())],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const marker = stdout.lastIndexOf('\n@@');
        if (error || marker < 0)
          return fail(new Error(`${error?.message ?? 'no result'}\n${stderr}\n${stdout}`));
        done({ result: JSON.parse(stdout.slice(marker + 3)), stderr });
      },
    );
  });
}

describe('the bundles, run as Lambda lays them out', () => {
  const ssm = useSsmEndpoint();
  const database = useTestDatabase();
  beforeAll(() => mkdir(TASKS, { recursive: true }));
  afterAll(() => rm(TASKS, { recursive: true, force: true }));

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
