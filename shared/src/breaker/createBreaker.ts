import {
  backoffDelay,
  classifyError,
  InfraError,
  invalidOption,
  withDefaults,
  withTimeout,
} from '../errors/index.ts';
import { recordMetric } from '../observability/catalog.ts';
import { logger } from '../observability/logger.ts';
import type { BreakerConfig } from './config.ts';
import { type BreakerStore, memoryStore, type SharedState } from './stores.ts';
import { consecutive, type Strategy } from './strategies.ts';

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';
export type BreakerEvent = 'open' | 'close' | 'half-open' | 'reject' | 'success' | 'failure';

/** The value of the BreakerState metric for each state, so alarms can test `>= 2` for "not serving". */
export const STATE_METRIC_VALUE: Record<BreakerState, number> = {
  closed: 0,
  'half-open': 1,
  open: 2,
  isolated: 3,
};

/** A call the breaker refused without making it: the circuit is open, isolated, or its probes are taken. */
export class BreakerOpenError extends InfraError {
  readonly breaker: string;
  readonly state: BreakerState;
  /** How long until the circuit lets a probe through; Infinity while it is isolated. */
  readonly retryAfterMs: number;
  constructor(breaker: string, state: BreakerState, retryInMs: number) {
    super(
      state === 'isolated'
        ? `circuit "${breaker}" is isolated: calls are refused until it is reset`
        : `circuit "${breaker}" is ${state}: call refused, next attempt in ${Math.max(0, Math.round(retryInMs))} ms`,
      { type: 'connection', component: 'breaker', code: 'CIRCUIT_OPEN' },
    );
    this.breaker = breaker;
    this.state = state;
    this.retryAfterMs = state === 'isolated' ? Number.POSITIVE_INFINITY : Math.max(0, retryInMs);
  }
}

export interface BreakerOptions {
  /** Names the circuit in errors, logs, metrics and (with a shared store) across containers. */
  name: string;
  /** Default `consecutive(5)`. */
  strategy?: Strategy;
  /** How long the circuit stays open the first time; default 5 s. */
  openMs?: number;
  /** The open time doubles with each failed probe, with jitter, up to this; default 60 s. */
  maxOpenMs?: number;
  /** Probe calls admitted at once in half-open; default 1. */
  halfOpenCalls?: number;
  /** A call slower than this fails with a timeout and counts as a failure; none by default. */
  timeoutMs?: number;
  /** Which errors count as failures; by default retryable InfraErrors (after classification), not validation. */
  isFailure?: (error: unknown) => boolean;
  /** Where the circuit lives: `memoryStore()` (default) or `redisStore(cache)`, shared by every container. */
  store?: BreakerStore;
  /**
   * With a shared store, how long a half-open call waits to learn whether it may probe before it decides
   * alone; default 50 ms. No other call ever waits on the store.
   */
  probeWaitMs?: number;
  /** Clock and randomness; injected by tests. */
  now?: () => number;
  random?: () => number;
}

export interface ExecuteOptions<T> {
  /** Answers instead when the call is refused or fails. */
  fallback?: (error: InfraError) => T | Promise<T>;
}

export interface BreakerStats {
  name: string;
  state: BreakerState;
  /** When the state was entered (epoch ms). */
  since: number;
  calls: number;
  successes: number;
  failures: number;
  rejections: number;
  failureRate: number;
}

/**
 * A breaker's defaults, which its config component's are too: `consecutive(5)`, open 5 s at first and up to 60 s,
 * one probe at a time.
 */
export const breakerConfigDefaults: BreakerConfig = {
  strategy: { kind: 'consecutive', threshold: 5 },
  openMs: 5_000,
  maxOpenMs: 60_000,
  halfOpenCalls: 1,
};

/** The options `createBreaker` fills in when they are not given. */
const breakerOptionDefaults = {
  openMs: breakerConfigDefaults.openMs,
  maxOpenMs: breakerConfigDefaults.maxOpenMs,
  halfOpenCalls: breakerConfigDefaults.halfOpenCalls,
  probeWaitMs: 50,
};

function checkTimes(name: string, openMs: number, maxOpenMs: number): void {
  if (!(openMs > 0) || maxOpenMs < openMs) {
    throw invalidOption('breaker', 'openMs', `must be positive and at most maxOpenMs (breaker "${name}")`);
  }
}

const defaultIsFailure = (error: unknown): boolean => {
  const infra = classifyError(error, 'breaker');
  return infra.retryable && infra.type !== 'validation';
};

/**
 * A circuit breaker: closed, open, half-open, and isolated (forced open). In the closed state a call costs
 * one promise chain and no I/O.
 */
export class Breaker {
  readonly name: string;
  #strategy: Strategy;
  #openMs: number;
  #maxOpenMs: number;
  #halfOpenCalls: number;
  #timeoutMs: number | undefined;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #now: () => number;
  readonly #random: () => number;
  #state: BreakerState = 'closed';
  #since: number;
  #openUntil = 0;
  #failedProbes = 0;
  #probes = 0;
  #calls = 0;
  #successes = 0;
  #failures = 0;
  #rejections = 0;
  #listeners: Map<BreakerEvent, Set<(info: unknown) => void>> | undefined;
  readonly #store: BreakerStore;
  #pendingSuccesses = 0;
  #pendingFailures = 0;
  #nextSyncAt = 0;
  #syncing: Promise<void> | undefined;
  #lastPublish: Promise<unknown> | undefined;
  /** False since the store last failed to answer: the circuit is then decided here alone. */
  #storeReachable = true;
  readonly #probeWaitMs: number;

  constructor(options: BreakerOptions) {
    this.name = options.name;
    const o = withDefaults(breakerOptionDefaults, options);
    this.#strategy = options.strategy ?? consecutive(breakerConfigDefaults.strategy.threshold);
    this.#openMs = o.openMs;
    this.#maxOpenMs = o.maxOpenMs;
    this.#halfOpenCalls = o.halfOpenCalls;
    this.#timeoutMs = options.timeoutMs;
    this.#isFailure = options.isFailure ?? defaultIsFailure;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#store = options.store ?? memoryStore();
    this.#probeWaitMs = o.probeWaitMs;
    this.#since = this.#now();
    checkTimes(this.name, this.#openMs, this.#maxOpenMs);
    if (!Number.isInteger(this.#halfOpenCalls) || this.#halfOpenCalls < 1) {
      throw invalidOption(
        'breaker',
        'halfOpenCalls',
        `must be a whole number of at least 1 (breaker "${this.name}")`,
      );
    }
  }

  /** The state now; an open circuit whose time is up reads as half-open. */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) this.#transition('half-open');
    return this.#state;
  }

  on(event: BreakerEvent, listener: (info: unknown) => void): () => void {
    this.#listeners ??= new Map();
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  #emit(event: BreakerEvent, info: unknown): void {
    const set = this.#listeners?.get(event);
    if (set) for (const listener of set) listener(info);
  }

  #transition(to: BreakerState, fromShared = false): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#since = this.#now();
    this.#probes = 0;
    // Outcomes not yet synced belong to the closed period that just ended; replayed later, they would
    // count against the next one.
    this.#pendingSuccesses = 0;
    this.#pendingFailures = 0;
    if (to === 'closed') {
      this.#failedProbes = 0;
      this.#strategy.reset();
    }
    const event = to === 'closed' ? 'close' : to === 'isolated' ? 'open' : to;
    const info = {
      name: this.name,
      from,
      to,
      ...(to === 'open' ? { openForMs: this.#openUntil - this.#since } : {}),
    };
    (to === 'closed' ? logger.info : logger.warn).call(logger, `circuit ${to}`, info);
    recordMetric('breakerState', STATE_METRIC_VALUE[to], { breaker: this.name });
    this.#emit(event, info);
    if (this.#store.shared && !fromShared && to !== 'half-open') this.#publish();
  }

  /** Tells the other containers, without any call waiting for it; a failure leaves them to their own view. */
  #publish(): void {
    const shared: SharedState = {
      state: this.#state === 'closed' ? 'closed' : this.#state === 'isolated' ? 'isolated' : 'open',
      openUntil: this.#openUntil,
      failedProbes: this.#failedProbes,
    };
    this.#lastPublish = this.#store.publish(this.name, shared).catch(() => {
      this.#storeReachable = false;
    });
  }

  /** At most once per syncMs: sends this container's outcomes and takes up the shared state. Never awaited. */
  #maybeSync(now: number): void {
    if (this.#syncing !== undefined || now < this.#nextSyncAt) return;
    this.#nextSyncAt = now + this.#store.syncMs;
    const batch = {
      successes: this.#pendingSuccesses,
      failures: this.#pendingFailures,
      trailingFailures: this.#strategy.trailingFailures,
    };
    this.#pendingSuccesses = 0;
    this.#pendingFailures = 0;
    this.#syncing = this.#store.sync(this.name, batch, this.#strategy.rule, this.#openMs, now).then(
      (shared) => {
        this.#syncing = undefined;
        this.#storeReachable = true;
        this.#adopt(shared);
      },
      () => {
        // Redis unreachable: keep the outcomes for the next try and go on deciding locally.
        this.#syncing = undefined;
        this.#storeReachable = false;
        this.#pendingSuccesses += batch.successes;
        this.#pendingFailures += batch.failures;
      },
    );
  }

  /**
   * Takes up the shared state now and waits for it: for a handler's start-up, so that a new container does
   * not make its first calls on a circuit that is open elsewhere. Never fails; without Redis it decides alone.
   */
  async sync(): Promise<void> {
    if (!this.#store.shared) return;
    this.#nextSyncAt = 0;
    this.#maybeSync(this.#now());
    await this.#syncing;
  }

  /** Takes up what another container decided. */
  #adopt(shared: SharedState): void {
    const local = this.#state;
    if (shared.state === 'isolated') {
      this.#transition('isolated', true);
      return;
    }
    if (shared.state === 'open') {
      if (local === 'isolated') return;
      if (local === 'closed' || (local === 'half-open' && shared.openUntil > this.#now())) {
        this.#openUntil = shared.openUntil;
        this.#failedProbes = shared.failedProbes;
        this.#transition('open', true);
      } else if (local === 'open' && shared.openUntil > this.#openUntil) {
        this.#openUntil = shared.openUntil;
        this.#failedProbes = shared.failedProbes;
      }
      return;
    }
    // Closed elsewhere: a probe succeeded, or the circuit was reset. An open of our own that is still
    // running stays, since its publication may not have landed yet.
    if (
      local === 'half-open' ||
      local === 'isolated' ||
      (local === 'open' && this.#now() >= this.#openUntil)
    ) {
      this.#transition('closed', true);
    }
  }

  /** Opens for the base time, or, after failed probes, for a doubled time with jitter up to maxOpenMs. */
  #open(): void {
    // Equal jitter: at least half the doubled time, so that containers do not probe in step, and never less than
    // openMs (with maxOpenMs under twice openMs, half of it would be).
    const ms =
      this.#failedProbes === 0
        ? this.#openMs
        : Math.max(
            this.#openMs,
            backoffDelay(
              this.#failedProbes,
              { base: this.#openMs, max: this.#maxOpenMs, jitter: 'equal' },
              this.#random,
            ),
          );
    this.#openUntil = this.#now() + ms;
    this.#transition('open');
  }

  #refuse<T>(options: ExecuteOptions<T> | undefined): Promise<T> {
    this.#rejections++;
    const error = new BreakerOpenError(this.name, this.#state, this.#openUntil - this.#now());
    this.#emit('reject', { name: this.name, state: this.#state });
    return options?.fallback ? Promise.resolve().then(() => options.fallback!(error)) : Promise.reject(error);
  }

  /** Runs `fn` through the circuit: refused at once while open, counted while closed, a probe in half-open. */
  execute<T>(fn: () => Promise<T>, options?: ExecuteOptions<T>): Promise<T> {
    if (this.#store.shared) this.#maybeSync(this.#now());
    const state = this.state;
    if (state === 'open' || state === 'isolated') return this.#refuse(options);
    const probe = state === 'half-open';
    if (probe) {
      if (this.#probes >= this.#halfOpenCalls) return this.#refuse(options);
      this.#probes++;
      if (this.#store.shared && this.#storeReachable) return this.#sharedProbe(fn, options);
    }
    return this.#call(fn, probe, options);
  }

  /**
   * A probe when every container shares the circuit: only the one that takes the probe lock calls the
   * dependency; the others take up the state it leaves. If Redis cannot be asked, the probe is local.
   */
  #sharedProbe<T>(fn: () => Promise<T>, options: ExecuteOptions<T> | undefined): Promise<T> {
    const ttlMs = this.#timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    let gaveUp = false;
    const asked = this.#store.acquireProbe(this.name, ttlMs, this.#now());
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        reject(new Error('the store did not answer in time'));
      }, this.#probeWaitMs);
    });
    // A grant that comes after we stopped waiting is handed back, so it does not block other probes.
    asked.then(
      (answer) => {
        if (gaveUp && answer.granted) void answer.release().catch(() => undefined);
      },
      () => undefined,
    );
    return Promise.race([asked, late]).then(
      (answer) => {
        clearTimeout(timer);
        if (answer.granted) {
          const done = () =>
            Promise.resolve(this.#lastPublish)
              .then(answer.release)
              .catch(() => undefined);
          return this.#call(fn, true, options).finally(done);
        }
        this.#probes--;
        this.#adopt(answer.shared);
        // Closed by another container's probe: this call goes through as an ordinary one.
        return this.#state === 'closed' ? this.#call(fn, false, options) : this.#refuse(options);
      },
      () => {
        clearTimeout(timer);
        this.#storeReachable = false;
        return this.#call(fn, true, options);
      },
    );
  }

  #call<T>(fn: () => Promise<T>, probe: boolean, options: ExecuteOptions<T> | undefined): Promise<T> {
    this.#calls++;
    let call: Promise<T>;
    try {
      call = fn();
    } catch (error) {
      call = Promise.reject(error);
    }
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs !== undefined) {
      call = withTimeout(
        call,
        timeoutMs,
        () =>
          new InfraError(`call through circuit "${this.name}" took longer than ${timeoutMs} ms`, {
            type: 'timeout',
            component: 'breaker',
          }),
      );
    }
    return call.then(
      (value) => {
        this.#settle(probe, false);
        return value;
      },
      (error: unknown) => {
        const counted = this.#isFailure(error);
        this.#settle(probe, counted);
        if (options?.fallback) return options.fallback(classifyError(error, this.name));
        throw error;
      },
    );
  }

  /** The function, with every call made through this circuit. */
  wrap<A extends unknown[], T>(
    fn: (...args: A) => Promise<T>,
    options?: ExecuteOptions<T>,
  ): (...args: A) => Promise<T> {
    return (...args: A) => this.execute(() => fn(...args), options);
  }

  #settle(probe: boolean, failed: boolean): void {
    const now = this.#now();
    if (failed) {
      this.#failures++;
      this.#emit('failure', { name: this.name });
      if (probe) {
        if (this.#state === 'half-open') {
          this.#failedProbes++;
          this.#open();
        }
        return;
      }
      if (this.#state === 'closed') {
        this.#pendingFailures++;
        if (this.#strategy.failure(now)) this.#open();
      }
      return;
    }
    this.#successes++;
    this.#emit('success', { name: this.name });
    if (probe) {
      if (this.#state === 'half-open') this.#transition('closed');
      return;
    }
    if (this.#state === 'closed') {
      this.#strategy.success(now);
      this.#pendingSuccesses++;
    }
  }

  /**
   * Applies new thresholds and times, as when the config in SSM changes: a new strategy starts with no
   * history, and the new times hold from the next opening on.
   */
  configure(
    settings: Pick<BreakerOptions, 'strategy' | 'openMs' | 'maxOpenMs' | 'halfOpenCalls' | 'timeoutMs'>,
  ): void {
    const openMs = settings.openMs ?? this.#openMs;
    const maxOpenMs = settings.maxOpenMs ?? this.#maxOpenMs;
    checkTimes(this.name, openMs, maxOpenMs);
    if (settings.strategy) this.#strategy = settings.strategy;
    this.#openMs = openMs;
    this.#maxOpenMs = maxOpenMs;
    if (settings.halfOpenCalls !== undefined) this.#halfOpenCalls = settings.halfOpenCalls;
    if ('timeoutMs' in settings) this.#timeoutMs = settings.timeoutMs;
    logger.info('circuit reconfigured', {
      name: this.name,
      openMs,
      maxOpenMs,
      halfOpenCalls: this.#halfOpenCalls,
    });
  }

  /** Forces the circuit open until `reset()`. */
  isolate(): void {
    this.#transition('isolated');
  }

  /** Closes the circuit and forgets its history. */
  reset(): void {
    this.#transition('closed');
  }

  stats(): BreakerStats {
    return {
      name: this.name,
      state: this.state,
      since: this.#since,
      calls: this.#calls,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      failureRate: this.#strategy.failureRate(this.#now()),
    };
  }
}

export function createBreaker(options: BreakerOptions): Breaker {
  return new Breaker(options);
}
