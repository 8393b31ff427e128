/**
 * How a delay is spread around its exponential step: `none` is the step itself, `full` anywhere from 0 to it,
 * `equal` from half of it to all of it (never less than half, still spread). AWS's "Exponential Backoff And
 * Jitter" compares them; cockatiel offers the same as generators.
 */
export type Jitter = 'none' | 'full' | 'equal';

export interface Backoff {
  /** The first step, in whatever unit the caller counts (ms, s). */
  readonly base: number;
  /** No step grows past this. */
  readonly max: number;
  /** @default 'full' */
  readonly jitter?: Jitter;
}

/**
 * The one backoff of the library: the delay after `attempt` failures (0 before the first retry's step doubles),
 * `base × 2^attempt` capped at `max`, jittered. The cache's reconnects, the breaker's open time, transaction and
 * publish retries, the SQS consumer's retry delays and the local poller all take theirs from here.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const step = Math.min(backoff.max, backoff.base * 2 ** Math.max(0, attempt));
  switch (backoff.jitter ?? 'full') {
    case 'none':
      return step;
    case 'equal':
      return step / 2 + (random() * step) / 2;
    default:
      return random() * step;
  }
}

/** Waits `ms` milliseconds: the library's one sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
