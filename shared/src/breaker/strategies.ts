import { invalidOption } from '../errors/index.ts';
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
    throw invalidOption('breaker', 'threshold', `must be a whole number of at least 1, got ${threshold}`);
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

/**
 * The sliding window as one flat array of `buckets` triples (time slice, calls, failures): one array of
 * unboxed doubles instead of three typed arrays and six closures, so a breaker with it stays under 1 KB.
 */
class FailureRate implements Strategy {
  readonly threshold: number;
  readonly windowMs: number;
  readonly minCalls: number;
  readonly buckets: number;
  readonly #bucketMs: number;
  readonly #ring: number[];
  #trailing = 0;

  constructor(threshold: number, windowMs: number, minCalls: number, buckets: number) {
    this.threshold = threshold;
    this.windowMs = windowMs;
    this.minCalls = minCalls;
    this.buckets = buckets;
    this.#bucketMs = windowMs / buckets;
    this.#ring = new Array<number>(buckets * 3).fill(0);
    this.reset();
  }

  get rule(): { kind: 'failureRate' } & Required<FailureRateOptions> {
    const { threshold, windowMs, minCalls, buckets } = this;
    return { kind: 'failureRate', threshold, windowMs, minCalls, buckets };
  }

  get trailingFailures(): number {
    return this.#trailing;
  }

  /** The ring offset of the bucket for `now`, emptied first when it last held an older slice. */
  #bucket(now: number): number {
    const slice = Math.floor(now / this.#bucketMs);
    const at = (slice % this.buckets) * 3;
    const ring = this.#ring;
    if (ring[at] !== slice) {
      ring[at] = slice;
      ring[at + 1] = 0;
      ring[at + 2] = 0;
    }
    return at;
  }

  #totals(now: number): { c: number; f: number } {
    const current = Math.floor(now / this.#bucketMs);
    const ring = this.#ring;
    let c = 0;
    let f = 0;
    for (let at = 0; at < ring.length; at += 3) {
      if (ring[at]! > current - this.buckets) {
        c += ring[at + 1]!;
        f += ring[at + 2]!;
      }
    }
    return { c, f };
  }

  success(now: number): void {
    this.#trailing = 0;
    this.#ring[this.#bucket(now) + 1]!++;
  }

  failure(now: number): boolean {
    this.#trailing++;
    const at = this.#bucket(now);
    this.#ring[at + 1]!++;
    this.#ring[at + 2]!++;
    const { c, f } = this.#totals(now);
    return c >= this.minCalls && f / c >= this.threshold;
  }

  reset(): void {
    this.#trailing = 0;
    for (let at = 0; at < this.#ring.length; at += 3) this.#ring[at] = -1;
  }

  failureRate(now: number): number {
    const { c, f } = this.#totals(now);
    return c === 0 ? 0 : f / c;
  }
}

/** Opens when, over the last `windowMs`, at least `minCalls` calls were made and `threshold` of them failed. */
export function failureRate(options: FailureRateOptions): Strategy {
  const { threshold, windowMs, minCalls } = options;
  const count = options.buckets ?? 10;
  if (!(threshold > 0 && threshold <= 1))
    throw invalidOption('breaker', 'threshold', `must be in (0, 1], got ${threshold}`);
  if (!(windowMs > 0)) throw invalidOption('breaker', 'windowMs', `must be positive, got ${windowMs}`);
  if (!Number.isInteger(minCalls) || minCalls < 1)
    throw invalidOption('breaker', 'minCalls', `must be a whole number of at least 1, got ${minCalls}`);
  if (!Number.isInteger(count) || count < 1)
    throw invalidOption('breaker', 'buckets', `must be a whole number of at least 1, got ${count}`);
  return new FailureRate(threshold, windowMs, minCalls, count);
}
