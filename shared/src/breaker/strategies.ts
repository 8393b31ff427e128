/** Decides from the outcomes of calls in the closed state when the circuit opens. */
export interface Strategy {
  success(now: number): void;
  /** Records a failure; true when the circuit should open now. */
  failure(now: number): boolean;
  reset(): void;
  /** Failures over calls the strategy currently weighs, for stats. */
  failureRate(now: number): number;
  /** Failures since the last success, for a shared store's consecutive count. */
  readonly trailingFailures: number;
  /** Its parameters, so that a shared store can apply the same rule to the outcomes of every container. */
  readonly rule:
    | { kind: 'consecutive'; threshold: number }
    | ({ kind: 'failureRate' } & Required<FailureRateOptions>);
}

// Classes rather than closures: their methods live once on the prototype, not once per breaker.
class Consecutive implements Strategy {
  readonly rule: { kind: 'consecutive'; threshold: number };
  readonly threshold: number;
  #failures = 0;
  #calls = 0;
  constructor(threshold: number) {
    this.threshold = threshold;
    this.rule = { kind: 'consecutive', threshold };
  }
  get trailingFailures(): number {
    return this.#failures;
  }
  success(): void {
    this.#failures = 0;
    this.#calls++;
  }
  failure(): boolean {
    this.#failures++;
    this.#calls++;
    return this.#failures >= this.threshold;
  }
  reset(): void {
    this.#failures = 0;
    this.#calls = 0;
  }
  failureRate(): number {
    return this.#calls === 0 ? 0 : this.#failures / Math.min(this.#calls, this.threshold);
  }
}

/** Opens after `threshold` failures in a row; any success starts the count again. */
export function consecutive(threshold: number): Strategy {
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new RangeError(
      `consecutive(threshold): threshold must be a whole number of at least 1, got ${threshold}`,
    );
  }
  return new Consecutive(threshold);
}

export interface FailureRateOptions {
  /** Share of failed calls (0-1) at which the circuit opens. */
  threshold: number;
  /** The sliding window the share is taken over. */
  windowMs: number;
  /** No opening on fewer calls than this in the window. */
  minCalls: number;
  /** How many buckets the window slides by; default 10. */
  buckets?: number;
}

/** Opens when, over the last `windowMs`, at least `minCalls` calls were made and `threshold` of them failed. */
export function failureRate(options: FailureRateOptions): Strategy {
  const { threshold, windowMs, minCalls } = options;
  const count = options.buckets ?? 10;
  if (!(threshold > 0 && threshold <= 1))
    throw new RangeError(`failureRate: threshold must be in (0, 1], got ${threshold}`);
  if (!(windowMs > 0)) throw new RangeError(`failureRate: windowMs must be positive, got ${windowMs}`);
  if (!Number.isInteger(minCalls) || minCalls < 1)
    throw new RangeError(`failureRate: minCalls must be a whole number of at least 1, got ${minCalls}`);
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`failureRate: buckets must be a whole number of at least 1, got ${count}`);
  const bucketMs = windowMs / count;
  // Ring of buckets: slot i holds the calls of time slice `slice[i]`.
  const slice = new Float64Array(count).fill(-1);
  const calls = new Uint32Array(count);
  const failures = new Uint32Array(count);
  const bucket = (now: number) => {
    const s = Math.floor(now / bucketMs);
    const i = s % count;
    if (slice[i] !== s) {
      slice[i] = s;
      calls[i] = 0;
      failures[i] = 0;
    }
    return i;
  };
  const totals = (now: number) => {
    const current = Math.floor(now / bucketMs);
    let c = 0;
    let f = 0;
    for (let i = 0; i < count; i++) {
      if (slice[i]! > current - count) {
        c += calls[i]!;
        f += failures[i]!;
      }
    }
    return { c, f };
  };
  let trailing = 0;
  return {
    rule: { kind: 'failureRate', threshold, windowMs, minCalls, buckets: count },
    get trailingFailures() {
      return trailing;
    },
    success(now) {
      trailing = 0;
      calls[bucket(now)]!++;
    },
    failure(now) {
      trailing++;
      const i = bucket(now);
      calls[i]!++;
      failures[i]!++;
      const { c, f } = totals(now);
      return c >= minCalls && f / c >= threshold;
    },
    reset() {
      trailing = 0;
      slice.fill(-1);
    },
    failureRate(now) {
      const { c, f } = totals(now);
      return c === 0 ? 0 : f / c;
    },
  };
}
