import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Whether importing a subpath, alone in a fresh process, loads the X-Ray SDK. */
function loadsXRay(subpath: string, env: Record<string, string> = {}): Promise<boolean> {
  const script = `
    await import('@lambda-infra/shared/${subpath}');
    const { createRequire } = await import('node:module');
    const cache = createRequire(import.meta.url).cache;
    console.log(Object.keys(cache).some((file) => file.includes('aws-xray-sdk-core')));`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => (error ? fail(new Error(stderr)) : done(stdout.trim() === 'true')),
    );
  });
}

// Loading the X-Ray SDK turns on async hooks for the whole process, which makes every await about 15 times
// dearer; a module that does not trace must not pay for it.
describe('what each module loads', () => {
  it.each(['breaker', 'cache', 'config', 'db', 'errors', 'health'])(
    '@lambda-infra/shared/%s does not load the X-Ray SDK',
    async (subpath) => {
      expect(await loadsXRay(subpath)).toBe(false);
    },
  );

  it('@lambda-infra/shared/handler does, for its tracer middleware', async () => {
    expect(await loadsXRay('handler')).toBe(true);
  });

  it.each([
    ['POWERTOOLS_TRACE_ENABLED', 'false'],
    ['LAMBDA_INFRA_TRACING', 'off'],
  ])('with %s=%s, no module loads it: tracing off loads no tracer code', async (name, value) => {
    for (const subpath of ['handler', 'mq', 'observability', 'db/migration-handler']) {
      expect(await loadsXRay(subpath, { [name]: value }), subpath).toBe(false);
    }
  });

  it('refuses a tracing back end it does not know, naming the variable and the choices', async () => {
    const error = await loadsXRay('observability', { LAMBDA_INFRA_TRACING: 'jaeger' }).catch((e: Error) => e);

    expect(String(error)).toContain('LAMBDA_INFRA_TRACING is "jaeger": it must be off or xray');
  });
});
