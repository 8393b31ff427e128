import { describe, expect, it } from 'vitest';
import { daemonAddress, XRayIdGenerator } from '../../shared/src/observability/tracing/otel.ts';
import { tracingMode } from '../../shared/src/observability/tracing.ts';

describe('daemonAddress: AWS_XRAY_DAEMON_ADDRESS as Lambda and the X-Ray SDK write it', () => {
  it.each([
    ['169.254.79.129:2000', { host: '169.254.79.129', port: 2000 }],
    ['udp:127.0.0.1:2001 tcp:127.0.0.1:2000', { host: '127.0.0.1', port: 2001 }],
    ['tcp:127.0.0.1:2000 udp:[::1]:2002', { host: '::1', port: 2002 }],
    ['daemon.local:2003', { host: 'daemon.local', port: 2003 }],
  ])('reads %j', (value, expected) => {
    expect(daemonAddress(value)).toEqual(expected);
  });

  it.each([undefined, '', 'garbage', '127.0.0.1', '127.0.0.1:port', '127.0.0.1:2000\r\nX: y', ':2000'])(
    'falls back to 127.0.0.1:2000 for %j',
    (value) => {
      expect(daemonAddress(value)).toEqual({ host: '127.0.0.1', port: 2000 });
    },
  );
});

describe('XRayIdGenerator', () => {
  it('makes trace ids X-Ray indexes by time, and ids that do not repeat across pool refills', () => {
    const ids = new XRayIdGenerator();
    const before = Math.floor(Date.now() / 1000);
    const traceIds = Array.from({ length: 2_000 }, () => ids.generateTraceId());
    const spanIds = Array.from({ length: 2_000 }, () => ids.generateSpanId());

    for (const id of traceIds) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(Math.abs(Number.parseInt(id.slice(0, 8), 16) - before)).toBeLessThanOrEqual(1);
    }
    for (const id of spanIds) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(traceIds).size).toBe(traceIds.length);
    expect(new Set(spanIds).size).toBe(spanIds.length);
  });
});

describe('tracingMode: the back end a container chooses', () => {
  it.each([
    [{}, 'otel'],
    [{ POWERTOOLS_TRACE_ENABLED: 'false' }, 'off'],
    [{ POWERTOOLS_TRACE_ENABLED: 'true' }, 'otel'],
    [{ LAMBDA_INFRA_TRACING: 'xray', POWERTOOLS_TRACE_ENABLED: 'false' }, 'xray'],
    [{ LAMBDA_INFRA_TRACING: 'off' }, 'off'],
    [{ LAMBDA_INFRA_TRACING: '' }, 'otel'],
  ])('%j -> %s', (env, mode) => {
    expect(tracingMode(env)).toBe(mode);
  });

  it('names the variable, a cut of the value and the choices when the value is none of them', () => {
    expect(() => tracingMode({ LAMBDA_INFRA_TRACING: `x${'y'.repeat(500)}` })).toThrow(
      /^LAMBDA_INFRA_TRACING is "xy{39}": it must be one of off, xray, otel$/,
    );
  });
});
