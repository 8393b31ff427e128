import { createHealth } from '@lambda-infra/shared/health';
import { describe, expect, it } from 'vitest';

const healthy = (name: string) => ({ name, check: () => undefined });

describe('createHealth', () => {
  it('is healthy when every check is, and reports each with its latency', async () => {
    const health = createHealth([
      healthy('cache'),
      { name: 'db', check: async () => ({ status: 'healthy' as const, message: 'ok' }) },
    ]);

    const report = await health.check();

    expect(report.status).toBe('healthy');
    expect(report.components.map((c) => [c.name, c.status, c.message])).toEqual([
      ['cache', 'healthy', undefined],
      ['db', 'healthy', 'ok'],
    ]);
    expect(report.components.every((c) => c.latencyMs >= 0)).toBe(true);
    expect(Number.isNaN(Date.parse(report.checkedAt))).toBe(false);
  });

  it('is unhealthy when a critical check throws, naming why', async () => {
    const health = createHealth([
      healthy('cache'),
      {
        name: 'db',
        check: () => {
          throw new Error('connection refused');
        },
      },
    ]);

    const report = await health.check();

    expect(report.status).toBe('unhealthy');
    expect(report.components[1]).toMatchObject({
      status: 'unhealthy',
      critical: true,
      message: 'connection refused',
    });
  });

  it('is only degraded when the check that fails is not critical, or when one is degraded', async () => {
    const nonCritical = createHealth([
      healthy('db'),
      { name: 'queue', critical: false, check: () => Promise.reject(new Error('down')) },
    ]);
    const degraded = createHealth([
      healthy('db'),
      { name: 'config', check: () => ({ status: 'degraded' as const }) },
    ]);

    expect((await nonCritical.check()).status).toBe('degraded');
    expect((await degraded.check()).status).toBe('degraded');
  });

  it('fails a check that outlives its timeout instead of waiting for it (it never settles)', async () => {
    const health = createHealth([
      { name: 'slow', timeoutMs: 50, check: () => new Promise<undefined>(() => {}) },
    ]);

    const report = await health.check();

    expect(report.components[0]).toMatchObject({ status: 'unhealthy', message: 'timed out after 50 ms' });
  });

  it('runs checks added later', async () => {
    const health = createHealth();
    health.add({ name: 'late', check: () => ({ status: 'degraded' as const, message: 'warming up' }) });

    const report = await health.check();

    expect(report.components).toEqual([
      expect.objectContaining({ name: 'late', status: 'degraded', message: 'warming up' }),
    ]);
  });
});
