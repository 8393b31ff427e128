import {
  BreakerOpenError,
  type BreakerOptions,
  breakerHealthCheck,
  consecutive,
  createBreaker,
  failureRate,
} from '@lambda-infra/shared/breaker';
import { InfraError } from '@lambda-infra/shared/errors';
import { createHealth } from '@lambda-infra/shared/health';
import { invocationMetrics } from '@lambda-infra/shared/observability';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../support/aws.ts';
import { captureConsole, type Emitted } from '../support/console.ts';

let now: number;
let emitted: Emitted;

const down = () => Promise.reject(new InfraError('refused', { type: 'connection', component: 'db' }));
const up = () => Promise.resolve('ok');

function breaker(options: Partial<BreakerOptions> = {}) {
  return createBreaker({
    name: 'db',
    strategy: consecutive(3),
    openMs: 1_000,
    maxOpenMs: 10_000,
    now: () => now,
    random: () => 1, // the top of the jitter range, so open times are exact
    ...options,
  });
}

/** Moves the clock on, 1 ms at a time, until the circuit is no longer open; returns how long that took. */
function waitUntilNotOpen(b: ReturnType<typeof breaker>): number {
  const from = now;
  while (b.state === 'open') now += 1;
  return now - from;
}

async function fail(b: ReturnType<typeof breaker>, times: number) {
  for (let i = 0; i < times; i++) await b.execute(down).catch(() => {});
}

beforeEach(() => {
  now = 1_000_000;
  emitted = captureConsole();
});

afterEach(() => emitted.restore());

describe('closed -> open', () => {
  it('opens after the strategy says so, then refuses calls at once with an error naming the breaker', async () => {
    const b = breaker();
    const events: string[] = [];
    b.on('open', () => events.push('open'));
    b.on('reject', () => events.push('reject'));
    let called = 0;

    await fail(b, 2);
    const stillClosed = b.state;
    await fail(b, 1);
    const refused = await failure(
      b.execute(async () => {
        called++;
        return 'x';
      }),
    );

    expect(stillClosed).toBe('closed');
    expect(b.state).toBe('open');
    expect(called).toBe(0);
    expect(refused).toBeInstanceOf(BreakerOpenError);
    expect(refused).toMatchObject({ breaker: 'db', code: 'CIRCUIT_OPEN', retryable: true });
    expect(refused.message).toBe('circuit "db" is open: call refused, next attempt in 1000 ms');
    expect(events).toEqual(['open', 'reject']);
  });

  it('answers with the fallback when refused or failed', async () => {
    const b = breaker();
    const failed = await b.execute(down, { fallback: (e) => `fallback after ${e.type}` });
    await fail(b, 2);

    const refused = await b.execute(up, { fallback: (e) => `fallback: ${e.code}` });

    expect(failed).toBe('fallback after connection');
    expect(refused).toBe('fallback: CIRCUIT_OPEN');
  });

  it('does not count errors that say nothing of the dependency: validation, and what classifies as not retryable', async () => {
    const b = breaker();
    const invalid = () =>
      Promise.reject(new InfraError('bad input', { type: 'validation', component: 'db' }));
    const bug = () => Promise.reject(new TypeError('x is undefined'));

    for (let i = 0; i < 5; i++) {
      await b.execute(invalid).catch(() => {});
      await b.execute(bug).catch(() => {});
    }

    expect(b.state).toBe('closed');
    expect(b.stats()).toMatchObject({ calls: 10, failures: 0, successes: 10 });
  });

  it('counts what a custom isFailure says', async () => {
    const b = breaker({ isFailure: (e) => e instanceof TypeError });

    await fail(b, 5);
    for (let i = 0; i < 3; i++) await b.execute(() => Promise.reject(new TypeError('x'))).catch(() => {});

    expect(b.state).toBe('open');
  });

  it('counts a call slower than timeoutMs as a failure, and fails it with a timeout without waiting for it', async () => {
    const b = breaker({ strategy: consecutive(1), timeoutMs: 20 });
    const never = () => new Promise<string>(() => {});

    const timedOut = await failure(b.execute(never));

    expect(timedOut).toMatchObject({ type: 'timeout', component: 'breaker', retryable: true });
    expect(timedOut.message).toBe('call through circuit "db" took longer than 20 ms');
    expect(b.state).toBe('open');
  });

  it('a success resets consecutive(n)', async () => {
    const b = breaker();

    await fail(b, 2);
    await b.execute(up);
    await fail(b, 2);

    expect(b.state).toBe('closed');
  });
});

describe('open -> half-open -> closed or open', () => {
  it('turns half-open when the open time is up, and closes on a successful probe', async () => {
    const b = breaker();
    const events: string[] = [];
    for (const e of ['half-open', 'close'] as const) b.on(e, () => events.push(e));
    await fail(b, 3);

    now += 999;
    const before = b.state;
    now += 1;
    const after = b.state;
    const result = await b.execute(up);

    expect([before, after, b.state]).toEqual(['open', 'half-open', 'closed']);
    expect(result).toBe('ok');
    expect(events).toEqual(['half-open', 'close']);
  });

  it('reopens on a failed probe for twice as long each time, up to maxOpenMs, and back to openMs once closed', async () => {
    const b = breaker();
    await fail(b, 3);
    const openFor: number[] = [];
    for (let round = 0; round < 6; round++) {
      openFor.push(waitUntilNotOpen(b));
      await b.execute(down).catch(() => {});
    }
    waitUntilNotOpen(b);
    await b.execute(up);
    await fail(b, 3);
    const afterClose = waitUntilNotOpen(b);

    expect(openFor).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(afterClose).toBe(1_000);
  });

  it('jitters the grown open time between half and all of it', async () => {
    const low = breaker({ random: () => 0 });
    await fail(low, 3);
    now += 1_000;
    await low.execute(down).catch(() => {});

    expect(waitUntilNotOpen(low)).toBe(1_000); // half of 2,000
  });

  it('never opens for less than openMs after a failed probe, even when maxOpenMs is under twice openMs', async () => {
    const b = breaker({ openMs: 1_000, maxOpenMs: 1_500, random: () => 0 });
    const openFor: number[] = [];
    await fail(b, 3);
    for (let probe = 0; probe < 4; probe++) {
      now += waitUntilNotOpen(b);
      await b.execute(down).catch(() => {});
      openFor.push(waitUntilNotOpen(b));
      now -= openFor.at(-1)!; // measured, not yet waited
    }

    // Half of the 1,500 ms ceiling would be 750 ms.
    expect(openFor.every((ms) => ms >= 1_000 && ms <= 1_500)).toBe(true);
  });

  it('tells how long until a refused call may go again', async () => {
    const b = breaker();
    await fail(b, 3);
    now += 400;

    const refused = await failure(b.execute(up));

    expect(refused).toBeInstanceOf(BreakerOpenError);
    expect((refused as BreakerOpenError).retryAfterMs).toBe(600);
  });

  it('admits at most halfOpenCalls probes at once and refuses the rest', async () => {
    const b = breaker({ halfOpenCalls: 2 });
    await fail(b, 3);
    now += 1_000;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let reached = 0;
    const probe = () =>
      b.execute(async () => {
        reached++;
        await gate;
        return 'ok';
      });

    const probes = [probe(), probe()];
    const third = await failure(probe());
    release();
    await Promise.all(probes);

    expect(reached).toBe(2);
    expect(third).toBeInstanceOf(BreakerOpenError);
    expect((third as BreakerOpenError).state).toBe('half-open');
    expect(b.state).toBe('closed');
  });

  it('lets a probe that fails with an uncounted error close the circuit: the dependency answered', async () => {
    const b = breaker();
    await fail(b, 3);
    now += 1_000;

    await b
      .execute(() => Promise.reject(new InfraError('bad', { type: 'validation', component: 'db' })))
      .catch(() => {});

    expect(b.state).toBe('closed');
  });
});

describe('isolated and reset', () => {
  it('isolate() refuses every call until reset(), whatever the time', async () => {
    const b = breaker();

    b.isolate();
    now += 1_000_000;
    const refused = await failure(b.execute(up));
    b.reset();
    const after = await b.execute(up);

    expect(refused.message).toBe('circuit "db" is isolated: calls are refused until it is reset');
    expect(after).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('reset() closes an open circuit and forgets its history', async () => {
    const b = breaker();
    await fail(b, 3);

    b.reset();
    await fail(b, 2);

    expect(b.state).toBe('closed');
  });
});

describe('failureRate strategy', () => {
  const rate = () =>
    breaker({ strategy: failureRate({ threshold: 0.5, windowMs: 10_000, minCalls: 4, buckets: 10 }) });

  it('opens once half the calls in the window failed and there were at least minCalls', async () => {
    const b = rate();

    await fail(b, 3); // 3 of 3 failed, but fewer than minCalls
    const below = b.state;
    await b.execute(up);
    await b.execute(up);
    await fail(b, 1); // 4 of 6 failed

    expect(below).toBe('closed');
    expect(b.state).toBe('open');
  });

  it('forgets calls older than the window as it slides', async () => {
    const b = rate();
    await fail(b, 3);
    now += 10_000; // those three fall out of the window
    for (let i = 0; i < 3; i++) await b.execute(up);

    await fail(b, 2); // 2 of 5 in the window

    expect(b.state).toBe('closed');
    expect(b.stats().failureRate).toBeCloseTo(2 / 5);
  });

  it('refuses impossible settings with the rule they break', () => {
    expect(() => failureRate({ threshold: 1.5, windowMs: 1, minCalls: 1 })).toThrow(
      /threshold must be in \(0, 1\]/,
    );
    expect(() => failureRate({ threshold: 0.5, windowMs: 0, minCalls: 1 })).toThrow(
      /windowMs must be positive/,
    );
    expect(() => consecutive(0)).toThrow(/at least 1/);
    expect(() => breaker({ openMs: 20_000, maxOpenMs: 10_000 })).toThrow(/at most maxOpenMs/);
  });
});

describe('what the breaker reports', () => {
  it('keeps stats: calls, successes, failures, rejections, failure rate, state and since when', async () => {
    const b = breaker();
    await b.execute(up);
    await fail(b, 3);
    const openedAt = now;
    await b.execute(up).catch(() => {});

    expect(b.stats()).toEqual({
      name: 'db',
      state: 'open',
      since: openedAt,
      calls: 4,
      successes: 1,
      failures: 3,
      rejections: 1,
      failureRate: 1,
    });
  });

  it('logs each change, records it as the BreakerState metric, and degrades health while not closed', async () => {
    const b = breaker();
    const health = createHealth([breakerHealthCheck(() => [b])]);
    await fail(b, 3);
    const whileOpen = await health.check();
    now += 1_000;
    await b.execute(up);
    invocationMetrics.flush();

    const states = emitted
      .metrics()
      .filter((m) => m.name === 'BreakerState')
      .map((m) => [m.value, m.dimensions.breaker]);
    expect(states).toEqual([
      [2, 'db'],
      [1, 'db'],
      [0, 'db'],
    ]);
    expect(emitted.warnings().map((w) => w.message)).toEqual(
      expect.arrayContaining(['circuit open', 'circuit half-open']),
    );
    expect(whileOpen.status).toBe('degraded');
    expect(whileOpen.components[0]?.message).toBe('db is open');
    expect((await health.check()).status).toBe('healthy');
  });

  it('wraps any async function', async () => {
    const b = breaker({ strategy: consecutive(1) });
    const lookup = b.wrap(async (id: number) => {
      if (id < 0) throw new InfraError('down', { type: 'connection', component: 'api' });
      return id * 2;
    });

    const value = await lookup(21);
    await lookup(-1).catch(() => {});
    const refused = await failure(lookup(21));

    expect(value).toBe(42);
    expect(refused).toBeInstanceOf(BreakerOpenError);
  });
});
