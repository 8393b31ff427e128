import { readdir } from 'node:fs/promises';
import { DeleteParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readConfigFolder } from '@lambda-infra/shared/config';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { httpEvent, lambdaContext } from '../../../test/support/events.ts';

// A namespace of this test's own in the shared SSM endpoint.
const ENV = `test-${process.pid}`;
const names = [`/config/${ENV}/events-api/api`, `/config/${ENV}/events-api/config`];
let ssm: SSMClient;

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL_SSM = inject('ssmEndpointUrl');
  process.env.LAMBDA_INFRA_ENV = ENV;
  process.env.LAMBDA_INFRA_SERVICE = 'events-api';
  ssm = new SSMClient({});
  await ssm.send(
    new PutParameterCommand({ Name: names[0], Value: '{"maxPayloadBytes":1024}', Type: 'String' }),
  );
  await ssm.send(new PutParameterCommand({ Name: names[1], Value: '{"ttlSeconds":30}', Type: 'String' }));
});

afterAll(async () => {
  await ssm.send(new DeleteParametersCommand({ Names: names }));
  ssm.destroy();
});

describe('events-api', () => {
  it('GET /health reports the config as healthy', async () => {
    const { handler } = await import('../src/handler.ts');

    const response = await handler(httpEvent({ method: 'GET', path: '/health' }), lambdaContext());

    expect(response.statusCode).toBe(200);
    const report = JSON.parse(response.body ?? '{}');
    expect(report.status).toBe('healthy');
    expect(report.components).toEqual([
      expect.objectContaining({
        name: 'config',
        status: 'healthy',
        message: expect.stringContaining(`/config/${ENV}/events-api`),
      }),
    ]);
  });

  it('answers 404 for a route it does not have', async () => {
    const { handler } = await import('../src/handler.ts');

    const response = await handler(httpEvent({ method: 'GET', path: '/nope' }), lambdaContext());

    expect(response.statusCode).toBe(404);
  });

  it('every env of infra/config holds an api config its schema accepts', async () => {
    const { apiConfigSchema } = await import('../src/handler.ts');
    const envs = await readdir('infra/config');

    for (const env of envs) {
      const entries = await readConfigFolder('infra/config', { env, service: 'events-api' });
      const api = entries.find((e) => e.component === 'api');
      expect(api, `infra/config/${env}/events-api/api.json`).toBeDefined();
      expect(apiConfigSchema.safeParse(api?.value).success).toBe(true);
    }
    expect(envs.sort()).toEqual(['dev', 'prod']);
  });
});
