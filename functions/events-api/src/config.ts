import { dataConfigComponents } from '@lambda-infra/db-migrate/config';
import { defineConfig } from '@lambda-infra/shared/config';
import { z } from 'zod';

/** Tunables of the API, from /config/{env}/events-api/api (infra/config/{env}/events-api/api.json). */
export const apiConfigSchema = z.object({
  /** Largest body of `POST /events`, and of each entry of a batch; SQS takes at most 1 MiB per message. */
  maxPayloadBytes: z.number().int().positive().max(1_048_576),
  /** Largest body of `POST /events/batch`; a synchronous Lambda invocation takes at most 6 MB. */
  maxBatchBytes: z.number().int().positive().max(6_000_000),
  /** How long an unknown id is remembered as unknown, so a storm of them does not reach the database. */
  notFoundTtlSeconds: z.number().int().min(1).max(300),
  /** How long the hourly counts of one query are served from the cache. */
  statsTtlSeconds: z.number().int().min(1).max(3_600),
  /** How long an Idempotency-Key answers with the event id of its first request. */
  idempotencyTtlSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400),
});
export type ApiConfig = z.infer<typeof apiConfigSchema>;

export const apiConfigDefaults: ApiConfig = {
  maxPayloadBytes: 65_536,
  maxBatchBytes: 1_048_576,
  notFoundTtlSeconds: 5,
  statsTtlSeconds: 10,
  idempotencyTtlSeconds: 86_400,
};

export const api = defineConfig({ component: 'api', schema: apiConfigSchema, defaults: apiConfigDefaults });

/** Every config component of events-api, for `lambda-infra config` and the CDK app to check infra/config against. */
export const configComponents = [api, ...dataConfigComponents];
