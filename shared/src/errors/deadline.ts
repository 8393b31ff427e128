import { InfraError } from './InfraError.ts';

/**
 * `work`, or the rejection `error()` makes once `ms` have passed, whichever comes first. The work itself is not
 * stopped: what it does later is ignored. The one timeout of the library's own calls (a circuit's call timeout,
 * a health check's, an invocation's deadline).
 */
export function withTimeout<T>(work: Promise<T>, ms: number, error: () => unknown): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), Math.max(0, ms));
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * `work`, or a retryable `timeout` InfraError once the clock passes `deadline` (epoch ms), whichever comes
 * first. The work itself is not stopped: what it does later is ignored.
 */
export function withDeadline<T>(
  work: Promise<T>,
  deadline: number,
  what: string,
  component = 'handler',
): Promise<T> {
  if (deadline === Number.POSITIVE_INFINITY) return work;
  return withTimeout(
    work,
    deadline - Date.now(),
    () =>
      new InfraError(`${what} did not finish within the invocation's remaining time`, {
        type: 'timeout',
        component,
        code: 'DEADLINE',
      }),
  );
}

/**
 * When an invocation must have answered, keeping `marginMs` back: from the Lambda context's remaining time, or
 * none (Infinity) for a context without it, as a test or a hand-made invocation may pass.
 */
export function invocationDeadline(
  context: { getRemainingTimeInMillis?: () => number },
  marginMs: number,
): number {
  if (typeof context.getRemainingTimeInMillis !== 'function') return Number.POSITIVE_INFINITY;
  return Date.now() + Math.max(0, context.getRemainingTimeInMillis() - marginMs);
}

/**
 * One invocation's deadline, shared by every wait it bounds: one timer and one promise however many waits there
 * are (config, then the handler), made on the first wait. Each promise and timer is dear where async hooks are on
 * (the X-Ray SDK turns them on), so a wait costs a `Promise.race` and no more. `clear()` once the invocation ends.
 */
export class Deadline {
  readonly at: number;
  #what = 'the invocation';
  #expired: Promise<never> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(at: number) {
    this.at = at;
  }

  /** `work`, or a retryable `timeout` InfraError naming `what` once the deadline passes. */
  bound<T>(work: Promise<T>, what: string, component = 'handler'): Promise<T> {
    if (this.at === Number.POSITIVE_INFINITY) return work;
    this.#what = what;
    if (!this.#expired) {
      this.#expired = new Promise<never>((_, reject) => {
        this.#timer = setTimeout(
          () =>
            reject(
              new InfraError(`${this.#what} did not finish within the invocation's remaining time`, {
                type: 'timeout',
                component,
                code: 'DEADLINE',
              }),
            ),
          Math.max(0, this.at - Date.now()),
        );
      });
      // Past its waits, a deadline that fires rejects nobody's promise.
      this.#expired.catch(() => undefined);
    }
    return Promise.race([work, this.#expired]);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

interface Waiting {
  readonly deadline: number;
  settled: boolean;
  reject: (error: unknown) => void;
}

/**
 * Bounds many calls that share one timeout, with one timer for all of them rather than one each: their
 * deadlines come in the order the calls start, so only the oldest pending one needs a timer. For hot paths
 * (a cache command), where a timer per call costs more than the call's own work at high concurrency.
 */
export class TimeoutQueue {
  readonly timeoutMs: number;
  readonly #error: () => unknown;
  readonly #waiting: Waiting[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, error: () => unknown) {
    this.timeoutMs = timeoutMs;
    this.#error = error;
  }

  /** `work`, or the queue's error once `timeoutMs` has passed; the work itself goes on, ignored. */
  bound<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = { deadline: performance.now() + this.timeoutMs, settled: false, reject };
      this.#waiting.push(waiting);
      this.#timer ??= setTimeout(this.#expire, this.timeoutMs).unref();
      work.then(
        (value) => {
          waiting.settled = true;
          resolve(value);
        },
        (error: unknown) => {
          waiting.settled = true;
          reject(error);
        },
      );
    });
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const waiting = this.#waiting;
    while (this.#head < waiting.length) {
      const first = waiting[this.#head]!;
      if (!first.settled && first.deadline > now) break;
      this.#head++;
      if (!first.settled) {
        first.settled = true;
        first.reject(this.#error());
      }
    }
    if (this.#head === waiting.length) {
      waiting.length = 0;
      this.#head = 0;
      return;
    }
    // Compact now and then, so the array does not grow with the calls already settled.
    if (this.#head > 1_024 && this.#head * 2 > waiting.length) {
      waiting.splice(0, this.#head);
      this.#head = 0;
    }
    this.#timer = setTimeout(this.#expire, Math.max(1, waiting[this.#head]!.deadline - now)).unref();
  };
}
