import { configFreshnessCheck, defineConfig } from '@lambda-infra/shared/config';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { createHealth } from '@lambda-infra/shared/health';
import { z } from 'zod';

/** Tunables of the API, from /config/{env}/events-api/api (infra/config/{env}/events-api/api.json). */
export const apiConfigSchema = z.object({
  /** Largest event body accepted; SQS takes at most 1 MiB per message. */
  maxPayloadBytes: z.number().int().positive().max(1_048_576),
});

const api = defineConfig({
  component: 'api',
  schema: apiConfigSchema,
  defaults: { maxPayloadBytes: 65_536 },
});

const health = createHealth([configFreshnessCheck()]);

export const handler = createHttpHandler({
  config: { api },
  // Served also when the config is invalid, to say what is wrong with it.
  health,
  handle: async (request) => {
    return { statusCode: 404, body: { message: `no route for ${request.method} ${request.path}` } };
  },
});
