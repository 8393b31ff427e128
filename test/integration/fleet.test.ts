// The fleet benchmark at a small size, so that what `npm run bench fleet` shows at 1,000 containers is also held
// by a test: a fleet cold-starting against a throttled SSM fails none of its cold starts with the shared config.

import { describe, expect, inject, it } from 'vitest';
import { runFleet } from '../../bench/fleet.ts';
import { useRedisServer } from '../support/redis.ts';

const redis = useRedisServer();
// 24 containers in 1.5 s ask for 16 loads a second; SSM here allows 4.
const options = { sizes: [24], windowMs: 1_500, tailMs: 1_000, tps: 4, processes: 2 };

describe('a fleet cold-starting against a throttled SSM', () => {
  it('shares one load through Redis and fails no cold start; per container, SSM throttles it', async () => {
    const servers = { redis: redis.server, postgres: { url: inject('postgresUrl') } };

    const shared = await runFleet(24, true, options, servers);
    const alone = await runFleet(24, false, options, servers);

    expect(shared).toMatchObject({ failedColdStarts: 0, ssm: { getParametersByPath: 1, throttled: 0 } });
    expect(shared.redis.connectionsPeak).toBe(48);
    expect(shared.warm.failures).toBe(0);
    expect(alone.ssm.getParametersByPath).toBeGreaterThan(24);
    expect(alone.ssm.throttled).toBeGreaterThan(0);
    // Whatever failed, failed with the clear retryable error of a throttled load, not anything else.
    expect(
      Object.keys(alone.failures).every((reason) => reason === 'config throttled ThrottlingException'),
    ).toBe(true);
  });
});
