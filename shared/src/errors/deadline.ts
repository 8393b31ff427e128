import { InfraError } from './InfraError.ts';

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
  const ms = deadline - Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new InfraError(`${what} did not finish within the invocation's remaining time`, {
            type: 'timeout',
            component,
            code: 'DEADLINE',
          }),
        ),
      Math.max(0, ms),
    );
  });
  // Nothing waits on `work` once the deadline has passed; its failure must not go unhandled.
  work.catch(() => undefined);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
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
