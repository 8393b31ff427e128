import { z } from 'zod';
import { backoffDelay, withDefaults } from '../errors/index.ts';

/**
 * How a failed message waits for its next delivery. The wait is set on the message itself
 * (ChangeMessageVisibility), so it holds across containers and needs no state but the receive count.
 */
export interface RetryOptions {
  /** Step before the second delivery; it doubles for each one after. Default 10 s. */
  baseDelaySeconds?: number;
  /** Cap on the step; default 900 s (SQS allows 12 h). */
  maxDelaySeconds?: number;
  /**
   * `equal` (default) waits between half the step and the whole of it; `none` waits the step itself. Never
   * less than 1 s either way.
   */
  jitter?: 'equal' | 'none';
}

/** SQS's ceiling on a message's visibility timeout: 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/** The consumer's retry schedule as a config component, so it changes without a deploy. */
export const retryConfigSchema = z
  .object({
    baseDelaySeconds: z.number().int().min(1).max(MAX_VISIBILITY_SECONDS),
    maxDelaySeconds: z.number().int().min(1).max(MAX_VISIBILITY_SECONDS),
    jitter: z.enum(['equal', 'none']),
  })
  .refine((r) => r.maxDelaySeconds >= r.baseDelaySeconds, {
    message: 'must be at least baseDelaySeconds',
    path: ['maxDelaySeconds'],
  });
export type RetryConfig = z.infer<typeof retryConfigSchema>;

export const retryConfigDefaults: RetryConfig = {
  baseDelaySeconds: 10,
  maxDelaySeconds: 900,
  jitter: 'equal',
};

/**
 * The delay before a message's next delivery after its `receiveCount`-th failed one: exponential, capped, with
 * equal jitter, and at least 1 s. Equal rather than full jitter: full jitter may draw 0 s, and a message that
 * waits nothing spends its receives within seconds of an outage.
 */
export function backoffSeconds(receiveCount: number, retry: RetryOptions = {}, random = Math.random): number {
  const { baseDelaySeconds, maxDelaySeconds, jitter } = withDefaults(retryConfigDefaults, retry);
  const max = Math.min(maxDelaySeconds, MAX_VISIBILITY_SECONDS);
  const delay = backoffDelay(receiveCount - 1, { base: baseDelaySeconds, max, jitter }, random);
  return Math.max(1, Math.ceil(delay));
}

/**
 * How long a message that always fails with a retryable error stays in its queue before it is dead-lettered,
 * the shortest and the longest over the jitter: `maxReceiveCount` deliveries with a delay after each but the
 * last, where the consumer gives up and dead-letters it with its reason.
 */
export function retrySurvivalSeconds(
  retry: RetryOptions,
  maxReceiveCount: number,
): { min: number; max: number } {
  let min = 0;
  let max = 0;
  for (let n = 1; n < maxReceiveCount; n++) {
    min += backoffSeconds(n, retry, () => 0);
    max += backoffSeconds(n, retry, () => 1);
  }
  return { min, max };
}
