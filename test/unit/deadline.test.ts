import { InfraError, invocationDeadline, TimeoutQueue, withDeadline } from '@lambda-infra/shared/errors';
import { describe, expect, it } from 'vitest';

const never = () => new Promise<never>(() => {});

describe('TimeoutQueue', () => {
  it('rejects every call still pending after its timeout with one timer, and leaves the others alone', async () => {
    const queue = new TimeoutQueue(50, () => new Error('late'));
    const fast = queue.bound(Promise.resolve('fast'));
    const failing = queue.bound(Promise.reject(new Error('own error')));
    const hung = Array.from({ length: 100 }, () => queue.bound(never()));
    const settled = Promise.allSettled([fast, failing, ...hung]);
    await new Promise((r) => setTimeout(r, 20));
    const later = queue.bound(never()); // started 20 ms after the others: its own deadline

    const outcomes = await settled;
    const laterOutcome = await Promise.allSettled([later]);

    expect(outcomes[0]).toEqual({ status: 'fulfilled', value: 'fast' });
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { message: 'own error' } });
    expect(outcomes.slice(2).every((o) => o.status === 'rejected' && o.reason.message === 'late')).toBe(true);
    expect(laterOutcome[0]).toMatchObject({ status: 'rejected', reason: { message: 'late' } });
  });

  it('settles a call that answers after its timeout only once, with the timeout', async () => {
    const queue = new TimeoutQueue(10, () => new Error('late'));
    let answer!: (v: string) => void;
    const slow = queue.bound(new Promise<string>((r) => (answer = r)));
    const outcome = await Promise.allSettled([slow]);
    answer('too late');

    expect(outcome[0]).toMatchObject({ status: 'rejected', reason: { message: 'late' } });
  });
});

describe('withDeadline and invocationDeadline', () => {
  it('fails work still running at the deadline with a retryable timeout, and passes finished work through', async () => {
    const late = await withDeadline(never(), Date.now() + 20, 'the request').catch((e: unknown) => e);
    const done = await withDeadline(Promise.resolve(1), Date.now() + 20, 'the request');

    expect(late).toBeInstanceOf(InfraError);
    expect(late).toMatchObject({ type: 'timeout', retryable: true, code: 'DEADLINE' });
    expect(done).toBe(1);
  });

  it("keeps the margin back from the context's remaining time, and sets none without it", () => {
    const before = Date.now();
    const deadline = invocationDeadline({ getRemainingTimeInMillis: () => 3_000 }, 1_000);

    expect(deadline).toBeGreaterThanOrEqual(before + 2_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 2_000);
    expect(invocationDeadline({}, 1_000)).toBe(Number.POSITIVE_INFINITY);
  });
});
