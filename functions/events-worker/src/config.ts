import { dataConfigComponents } from '@lambda-infra/db-migrate/config';
import { defineConfig } from '@lambda-infra/shared/config';
import { retryConfigDefaults, retryConfigSchema } from '@lambda-infra/shared/mq';

/** The retry schedule, from /config/{env}/events-worker/retry: see README, "How long a message survives". */
export const retry = defineConfig({
  component: 'retry',
  schema: retryConfigSchema,
  defaults: retryConfigDefaults,
});

/** Every config component of events-worker, for `lambda-infra config` and the CDK app to check infra/config against. */
export const configComponents = [retry, ...dataConfigComponents];
