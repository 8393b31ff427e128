import { PutParameterCommand } from '@aws-sdk/client-ssm';
import {
  breakerConfigDefaults,
  breakerConfigSchema,
  createConfiguredBreaker,
} from '@lambda-infra/shared/breaker';
import { ConfigSource, defineConfig } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import { beforeEach, describe, expect, it } from 'vitest';
import { failure, useSsmEndpoint } from '../support/aws.ts';

const local = useSsmEndpoint();
let now: number;
const down = () => Promise.reject(new InfraError('refused', { type: 'connection', component: 'db' }));

async function put(value: unknown) {
  await local.ssm.send(
    new PutParameterCommand({
      Name: '/config/test/orders/db-breaker',
      Value: JSON.stringify(value),
      Type: 'String',
      Overwrite: true,
    }),
  );
}

function dbBreakerConfig() {
  return defineConfig({
    component: 'db-breaker',
    schema: breakerConfigSchema,
    defaults: breakerConfigDefaults,
    source: new ConfigSource({
      env: 'test',
      service: 'orders',
      client: local.ssm,
      now: () => now,
      environment: {},
    }),
  });
}

beforeEach(() => {
  now = 1_000_000;
});

describe('a breaker configured from SSM', () => {
  it('takes its thresholds from the config, and new ones when the config changes, without a redeploy', async () => {
    await put({ strategy: { kind: 'consecutive', threshold: 2 } });
    const config = dbBreakerConfig();
    const breaker = await createConfiguredBreaker({ name: 'db', config });

    for (let i = 0; i < 2; i++) await breaker.execute(down).catch(() => {});
    const openedAtTwo = breaker.state;
    breaker.reset();
    await put({ strategy: { kind: 'consecutive', threshold: 4 }, openMs: 2_000, maxOpenMs: 4_000 });
    now += 61_000;
    await config.get(); // what a handler's config option does before each invocation
    for (let i = 0; i < 3; i++) await breaker.execute(down).catch(() => {});
    const closedAtThree = breaker.state;
    await breaker.execute(down).catch(() => {});

    expect(openedAtTwo).toBe('open');
    expect(closedAtThree).toBe('closed');
    expect(breaker.state).toBe('open');
    expect(breaker.stats().rejections).toBe(0);
  });

  it('keeps its last good settings when a change is invalid, and names the field and the rule', async () => {
    await put({ strategy: { kind: 'consecutive', threshold: 2 } });
    const config = dbBreakerConfig();
    const breaker = await createConfiguredBreaker({ name: 'db', config });

    await put({ strategy: { kind: 'consecutive', threshold: 2 }, openMs: 10_000, maxOpenMs: 5_000 });
    now += 61_000;
    await config.get();
    for (let i = 0; i < 2; i++) await breaker.execute(down).catch(() => {});

    expect(breaker.state).toBe('open');
    const fresh = dbBreakerConfig();
    const error = (await failure(fresh.get())) as InfraError;
    expect(error.fields).toEqual([expect.objectContaining({ path: 'maxOpenMs', rule: 'custom' })]);
    expect(error.fields[0]?.message).toContain('must be at least openMs');
  });
});
