import { cache, db, dbBreaker } from '@lambda-infra/db-migrate/clients';
import { eventSchema } from '@lambda-infra/db-migrate/events';
import type { Breaker } from '@lambda-infra/shared/breaker';
import { cacheHealthCheck } from '@lambda-infra/shared/cache';
import { readBinding } from '@lambda-infra/shared/config';
import { dbHealthCheck } from '@lambda-infra/shared/db';
import { lazy } from '@lambda-infra/shared/handler';
import { createPublisher } from '@lambda-infra/shared/mq';

/** Where the API sends the events: the queue the stack binds (LAMBDA_INFRA_QUEUE_URL). */
export const publisher = lazy(() =>
  createPublisher({ queueUrl: readBinding('queueUrl'), schema: eventSchema }),
);

export { type ApiConfig, api, apiConfigDefaults, apiConfigSchema } from './config.ts';
export { cache, db, dbBreaker };

/** The circuits this container made so far, for its health report. */
export async function breakersInUse(): Promise<Breaker[]> {
  const made: Breaker[] = [];
  const [shared, sends] = await Promise.all([
    cache().catch(() => undefined),
    publisher().catch(() => undefined),
  ]);
  if (shared?.breaker) made.push(shared.breaker);
  if (sends?.breaker) made.push(sends.breaker);
  const guard = await dbBreaker().catch(() => undefined);
  if (guard) made.push(guard);
  return made;
}

export const cacheCheck = async () => {
  const shared = await cache();
  return shared ? cacheHealthCheck(shared) : undefined;
};
export const dbCheck = async () => dbHealthCheck(await db());
