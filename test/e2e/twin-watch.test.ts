import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTwin, type Twin } from '@lambda-infra/shared/local/twin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/sqs.ts';

// `lambda-infra dev --watch` on a project of its own: a CDK app (run by the real CDK CLI) whose one function's
// code is src/handler.mjs. An edit there synthesizes again and restarts the function; an edit that breaks the
// synth leaves the last good build running.
const PROJECT = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-watch-'));
chmodSync(PROJECT, 0o755);
symlinkSync(resolve('node_modules'), join(PROJECT, 'node_modules'), 'dir');
mkdirSync(join(PROJECT, 'src'));

const handler = (text: string) =>
  writeFileSync(
    join(PROJECT, 'src', 'handler.mjs'),
    `export const handler = async () => ({ statusCode: 200, body: ${JSON.stringify(text)} });\n`,
  );

writeFileSync(
  join(PROJECT, 'cdk.json'),
  JSON.stringify({ app: 'node app.mjs', watch: { include: ['src/**'] } }),
);
writeFileSync(
  join(PROJECT, 'app.mjs'),
  `import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
if (readFileSync('src/handler.mjs', 'utf8').includes('BROKEN')) throw new Error('the app does not build');
const out = process.env.CDK_OUTDIR;
mkdirSync(join(out, 'asset.hello'), { recursive: true });
cpSync('src/handler.mjs', join(out, 'asset.hello', 'index.mjs'));
writeFileSync(join(out, 'manifest.json'), JSON.stringify({ version: '54.0.0', artifacts: { 'watch-stack': {
  type: 'aws:cloudformation:stack', environment: 'aws://unknown-account/unknown-region',
  properties: { templateFile: 'watch-stack.template.json' } } } }));
writeFileSync(join(out, 'watch-stack.template.json'), JSON.stringify({ Resources: {
  hello: { Type: 'AWS::Lambda::Function', Metadata: { 'aws:asset:path': 'asset.hello' },
    Properties: { Code: { S3Bucket: 'b', S3Key: 'hello.zip' }, Handler: 'index.handler', Runtime: 'nodejs24.x', Timeout: 3 } },
  Integration: { Type: 'AWS::ApiGatewayV2::Integration',
    Properties: { IntegrationUri: { 'Fn::GetAtt': ['hello', 'Arn'] }, PayloadFormatVersion: '2.0' } },
  Route: { Type: 'AWS::ApiGatewayV2::Route', Properties: { RouteKey: 'GET /hello', AuthorizationType: 'NONE',
    Target: { 'Fn::Join': ['', ['integrations/', { Ref: 'Integration' }]] } } },
} }));
`,
);

let twin: Twin;
const lines: string[] = [];

beforeAll(async () => {
  handler('one');
  twin = await startTwin({
    env: 'dev',
    port: 0,
    projectDir: PROJECT,
    watch: true,
    out: (l) => lines.push(l),
  });
}, 60_000);

afterAll(async () => {
  await twin?.stop();
  rmSync(PROJECT, { recursive: true, force: true });
});

const hello = async () => (await fetch(`${twin.state.http}/hello`)).text();

describe('lambda-infra dev --watch', () => {
  it('synthesizes the app when it has no cloud assembly, and serves it', async () => {
    expect(lines.join('\n')).toMatch(/synthesizing cdk\.out\/dev/);
    expect(await hello()).toBe('one');
  });

  it('restarts the function with the new code when its source changes', async () => {
    handler('two');
    await until(async () => (await hello()) === 'two', 30_000);
    expect(lines.join('\n')).toMatch(/changed: src\/handler\.mjs; rebuilding/);
    expect(lines.join('\n')).toMatch(/reloaded: 1 function\(s\), 1 route\(s\), 0 queue\(s\)/);
  }, 40_000);

  it('keeps the last good build running when the app no longer synthesizes', async () => {
    handler('BROKEN');
    await until(
      () => lines.some((l) => l.startsWith('reload failed, the twin keeps running the last good build')),
      30_000,
    );
    expect(lines.join('\n')).toMatch(/the app does not build/);
    expect(await hello()).toBe('two');
  }, 40_000);
});
