import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const TRACERS = { xray: 'aws-xray-sdk-core', otel: '@opentelemetry/' };

/** Which tracers importing a subpath, alone in a fresh process, loads (ESM and CommonJS alike). */
function tracersLoaded(subpath: string, env: Record<string, string> = {}): Promise<string[]> {
  const script = `
    const { registerHooks } = await import('node:module');
    const loaded = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
    await import('@lambda-infra/shared/${subpath}');
    console.log(JSON.stringify(Object.entries(${JSON.stringify(TRACERS)})
      .filter(([, path]) => loaded.some((url) => url.includes(path))).map(([name]) => name)));`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => (error ? fail(new Error(stderr)) : done(JSON.parse(stdout.trim()))),
    );
  });
}

// Loading the X-Ray SDK turns on async hooks for the whole process, which makes every await about 15 times
// dearer; a module that does not trace must not pay for it.
describe('what each module loads', () => {
  it.each(['breaker', 'cache', 'config', 'db', 'errors', 'health'])(
    '@lambda-infra/shared/%s loads no tracer',
    async (subpath) => {
      expect(await tracersLoaded(subpath, { LAMBDA_INFRA_TRACING: 'otel' })).toEqual([]);
    },
  );

  it.each([
    ['xray', ['xray']],
    ['otel', ['otel']],
  ])('with LAMBDA_INFRA_TRACING=%s, the handler loads that tracer alone', async (mode, tracers) => {
    expect(await tracersLoaded('handler', { LAMBDA_INFRA_TRACING: mode })).toEqual(tracers);
  });

  it.each([
    ['POWERTOOLS_TRACE_ENABLED', 'false'],
    ['LAMBDA_INFRA_TRACING', 'off'],
  ])('with %s=%s, no module loads either: tracing off loads no tracer code', async (name, value) => {
    for (const subpath of ['handler', 'mq', 'observability', 'db/migration-handler']) {
      expect(await tracersLoaded(subpath, { [name]: value }), subpath).toEqual([]);
    }
  });

  it.each(['jaeger', 'OTEL', 'otel\nxray'])(
    'refuses a tracing back end it does not know (%j), naming the choices',
    async (value) => {
      const error = await tracersLoaded('observability', { LAMBDA_INFRA_TRACING: value }).catch(
        (e: Error) => e,
      );

      expect(String(error)).toContain(
        `LAMBDA_INFRA_TRACING is ${JSON.stringify(value)}: it must be one of off, xray, otel`,
      );
    },
  );
});
