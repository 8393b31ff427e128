// biome-ignore-all lint/suspicious/noExplicitAny: package.json files are untyped JSON.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleLayer } from '../../infra/lib/bundling.ts';
import { packLibrary } from '../../infra/lib/libraryPackage.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

// A team's own project, outside this repository: it installs the packed tarball from npm's cache (what `npm ci`
// here filled), type-checks a handler against its declarations, and runs it on the package's code.
const HANDLER = `
import { defineConfig } from '@lambda-infra/shared/config';
import { InfraError } from '@lambda-infra/shared/errors';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { z } from 'zod';

export const greeting = defineConfig({
  component: 'greeting',
  schema: z.object({ text: z.string(), shout: z.boolean() }),
  defaults: { text: 'hello', shout: false },
});

export const handler = createHttpHandler({
  body: z.object({ name: z.string().min(1) }),
  handle: ({ body }) => ({ statusCode: 200, body: { message: \`hello, \${body.name}\` } }),
});

export async function shout(): Promise<boolean> {
  const value = await greeting.get();
  // @ts-expect-error the component's schema types the value: text is a string, never a number
  const wrong: number = value.text;
  void wrong;
  return value.shout;
}

export const misconfigured = new InfraError('no greeting', { type: 'config', component: 'greeting' });
`;

const RUN = `
import { handler } from './handler.ts';
const event = (body: unknown) => ({
  version: '2.0', rawPath: '/', rawQueryString: '', headers: { 'content-type': 'application/json' },
  requestContext: { http: { method: 'POST', path: '/' }, requestId: 'scratch-1' },
  body: JSON.stringify(body), isBase64Encoded: false,
});
const context = { awsRequestId: 'scratch-1', functionName: 'scratch', getRemainingTimeInMillis: () => 10_000 };
const ok = await handler(event({ name: 'Ada' }) as never, context as never);
const bad = await handler(event({ name: '' }) as never, context as never);
process.stdout.write('\\n@@' + JSON.stringify({ ok, bad }));
`;

describe('@lambda-infra/shared packed with npm pack', () => {
  let scratch: string;
  let manifest: Record<string, any>;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'lambda-infra-scratch-'));
    const tarball = await packLibrary(join(scratch, 'packed'));
    const ranges = JSON.parse(await readFile(join(ROOT, 'shared/package.json'), 'utf8')).dependencies;
    const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).devDependencies;
    await writeFile(
      join(scratch, 'package.json'),
      JSON.stringify({
        name: 'scratch-service',
        private: true,
        type: 'module',
        dependencies: { '@lambda-infra/shared': `file:${tarball}`, zod: ranges.zod, kysely: ranges.kysely },
        devDependencies: { '@types/node': root['@types/node'] },
      }),
    );
    // As `tsc --init` writes it (skipLibCheck: middy's declarations name an optional peer of its own).
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          module: 'nodenext',
          strict: true,
          noEmit: true,
          types: ['node'],
          allowImportingTsExtensions: true,
          skipLibCheck: true,
        },
        include: ['*.ts'],
      }),
    );
    await writeFile(join(scratch, 'handler.ts'), HANDLER);
    await writeFile(join(scratch, 'run.ts'), RUN);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: scratch,
    });
    manifest = JSON.parse(
      await readFile(join(scratch, 'node_modules/@lambda-infra/shared/package.json'), 'utf8'),
    );
  }, 180_000);
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('installs into a project of its own, which type-checks against its declarations', async () => {
    // A type error in the handler would fail this, and so would declarations that left the config untyped: the
    // handler's expect-error directive would then be unused.
    const checked = await run(process.execPath, [TSC, '-p', scratch]).catch((error) => error);

    expect(checked.stdout ?? '').toBe('');
    expect(checked.code ?? 0).toBe(0);
  }, 60_000);

  it("has no type error in its own declarations, checked without skipLibCheck (middy's aside)", async () => {
    const checked = await run(process.execPath, [TSC, '-p', scratch, '--skipLibCheck', 'false']).catch(
      (error) => error,
    );
    const ours = String(checked.stdout ?? '')
      .split('\n')
      .filter((line) => line.includes('@lambda-infra/shared'));

    expect(ours).toEqual([]);
  }, 60_000);

  it('runs the handler on the code the layer deploys, with the zod the project installed', async () => {
    const { stdout } = await run(process.execPath, ['run.ts'], {
      cwd: scratch,
      env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });
    const { ok, bad } = JSON.parse(stdout.slice(stdout.lastIndexOf('\n@@') + 3));

    expect(ok).toMatchObject({ statusCode: 200, headers: { 'x-correlation-id': 'scratch-1' } });
    expect(JSON.parse(ok.body)).toEqual({ message: 'hello, Ada' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).errors).toEqual([
      expect.objectContaining({ path: 'name', rule: 'too_small' }),
    ]);
  }, 60_000);

  it("is the layer's code, with types per module, and zod, kysely and the SDK clients its types name as peers", async () => {
    const layer = await bundleLayer();
    const layerFile = join(layer.dir, 'nodejs/node_modules/@lambda-infra/shared/dist/handler.mjs');
    const packedFile = join(scratch, 'node_modules/@lambda-infra/shared/dist/handler.mjs');

    expect(await readFile(packedFile, 'utf8')).toBe(await readFile(layerFile, 'utf8'));
    expect(manifest.exports['./handler']).toEqual({
      types: './types/handler/index.d.ts',
      default: './dist/handler.mjs',
    });
    expect(Object.keys(manifest.peerDependencies)).toEqual(
      expect.arrayContaining(['zod', 'kysely', '@aws-sdk/client-sqs', '@aws-sdk/client-ssm']),
    );
    expect(manifest.dependencies).not.toHaveProperty('zod');
    // The code carries the SDK clients it calls, as the layer does: one its declarations do not name is no peer.
    expect(manifest.peerDependencies).not.toHaveProperty('@aws-sdk/client-secrets-manager');
  });
});
