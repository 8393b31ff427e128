import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { type Breaker, type BreakerOptions, breakerConfigDefaults, createBreaker } from './createBreaker.ts';
import type { BreakerStore } from './stores.ts';
import { consecutive, failureRate } from './strategies.ts';

/** A breaker's thresholds and times, from `/config/{env}/{service}/{component}` so they change without a deploy. */
export const breakerConfigSchema = z
  .object({
    strategy: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('consecutive'), threshold: z.number().int().min(1) }),
      z.object({
        kind: z.literal('failureRate'),
        threshold: z.number().gt(0).max(1),
        windowMs: z.number().int().positive(),
        minCalls: z.number().int().min(1),
        buckets: z.number().int().min(1).max(100).optional(),
      }),
    ]),
    openMs: z.number().int().positive(),
    maxOpenMs: z.number().int().positive(),
    halfOpenCalls: z.number().int().min(1),
    timeoutMs: z.number().int().positive().optional(),
  })
  .refine((c) => c.maxOpenMs >= c.openMs, { message: 'must be at least openMs', path: ['maxOpenMs'] });
export type BreakerConfig = z.infer<typeof breakerConfigSchema>;

export { breakerConfigDefaults };

/** Breaker options from its config. */
export function breakerSettings(
  config: BreakerConfig,
): Pick<BreakerOptions, 'strategy' | 'openMs' | 'maxOpenMs' | 'halfOpenCalls' | 'timeoutMs'> {
  const { strategy } = config;
  return {
    strategy: strategy.kind === 'consecutive' ? consecutive(strategy.threshold) : failureRate(strategy),
    openMs: config.openMs,
    maxOpenMs: config.maxOpenMs,
    halfOpenCalls: config.halfOpenCalls,
    timeoutMs: config.timeoutMs,
  };
}

/**
 * A breaker built from its config and kept in step with it: each change of the config (seen at the next
 * `get()`, which a handler's `config` option makes before every invocation) reconfigures it.
 */
export async function createConfiguredBreaker(options: {
  name: string;
  config: Config<BreakerConfig>;
  store?: BreakerStore;
}): Promise<Breaker> {
  const breaker = createBreaker({
    name: options.name,
    ...(options.store ? { store: options.store } : {}),
    ...breakerSettings(await options.config.get()),
  });
  options.config.onChange((next) => breaker.configure(breakerSettings(next)));
  return breaker;
}
