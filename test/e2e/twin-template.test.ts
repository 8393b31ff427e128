import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startTwin, type Twin } from '@lambda-infra/shared/local/twin';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The twin reads the synthesized template and nothing else: the CDK app changed (a queue's maxReceiveCount, a
// route taken away) and synthesized again, the twin's queue and router follow with no other edit.
const DIR = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-template-'));
chmodSync(DIR, 0o755);
const ASSEMBLY = join(DIR, 'cdk.out');
const DATABASE = `twin_template_${process.pid}`;
const ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

// The repository's own app, built as `npm run synth` builds it; "changed" edits it the way a person would.
const APP = join(DIR, 'app.ts');
writeFileSync(
  APP,
  `import { Duration } from ${JSON.stringify(resolve('node_modules/aws-cdk-lib/index.js'))};
import { environments } from ${JSON.stringify(resolve('infra/lib/settings.ts'))};
const [outdir, variant] = process.argv.slice(2);
if (variant === 'changed') {
  environments.dev.queue.maxReceiveCount = 9;
  // The queue's visibility timeout follows the worker's timeout (six times it): 60 s becomes 72 s.
  environments.dev.functions.timeout = environments.dev.functions.timeout.plus(Duration.seconds(2));
}
const { createApp } = await import(${JSON.stringify(resolve('infra/lib/createApp.ts'))});
const { app, stack } = await createApp({ env: 'dev', outdir });
if (variant === 'changed') stack.node.findChild('Api').node.tryRemoveChild('GET--health');
app.synth();
`,
);

function synth(variant: 'as-is' | 'changed'): Promise<void> {
  return new Promise((done, fail) => {
    execFile(process.execPath, [APP, ASSEMBLY, variant], { timeout: 120_000 }, (error, _stdout, stderr) =>
      error ? fail(new Error(`${error.message}\n${stderr}`)) : done(),
    );
  });
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client(ADMIN);
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

let twin: Twin;
const lines: string[] = [];

beforeAll(async () => {
  await admin(`create database ${DATABASE}`);
  await synth('as-is');
  twin = await startTwin({
    env: 'dev',
    port: 0,
    cloudAssembly: ASSEMBLY,
    stateDir: join(DIR, 'state'),
    databaseUrl: `postgres://postgres@127.0.0.1:5432/${DATABASE}`,
    cacheUrl: 'off',
    out: (line) => lines.push(line),
  });
}, 180_000);

afterAll(async () => {
  await twin?.stop();
  await admin(`drop database if exists ${DATABASE} with (force)`);
  rmSync(DIR, { recursive: true, force: true });
});

async function sourceQueue(): Promise<{ maxReceiveCount: number; visibilityTimeout: string }> {
  const queue = twin.state.queues.find((q) => q.deadLetterUrl)!;
  const sqs = new SQSClient({ endpoint: twin.state.sqs, region: twin.state.region });
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['RedrivePolicy', 'VisibilityTimeout'],
      }),
    );
    return {
      maxReceiveCount: (JSON.parse(Attributes!.RedrivePolicy!) as { maxReceiveCount: number })
        .maxReceiveCount,
      visibilityTimeout: Attributes!.VisibilityTimeout!,
    };
  } finally {
    sqs.destroy();
  }
}

describe('the twin follows the synthesized template', () => {
  it("runs the app's queue and routes as synthesized", async () => {
    expect(await sourceQueue()).toEqual({ maxReceiveCount: 7, visibilityTimeout: '60' });
    expect((await fetch(`${twin.state.http}/health`)).status).toBe(200);
    expect(lines.join('\n')).toMatch(/cache +off \(--cache-url off\)/);
  });

  it('takes a changed maxReceiveCount and a removed route from a new synth, with no other edit', async () => {
    await synth('changed');
    await twin.reload();
    // The queue exists with other attributes: they are set on it.
    expect(await sourceQueue()).toEqual({ maxReceiveCount: 9, visibilityTimeout: '72' });
    const health = await fetch(`${twin.state.http}/health`);
    // Answered by the gateway, as API Gateway answers a path no route matches: the function never sees it.
    expect(health.status).toBe(404);
    expect(await health.json()).toEqual({ message: 'Not Found' });
    expect((await fetch(`${twin.state.http}/events/stats`)).status).toBe(200);
  }, 150_000);

  it('runs the same template on PGlite, the fallback database: migrated, and an event stored end to end', async () => {
    const lite = await startTwin({
      env: 'dev',
      port: 0,
      cloudAssembly: ASSEMBLY,
      stateDir: join(DIR, 'state-pglite'),
      database: 'pglite',
      cacheUrl: 'off',
      out: () => {},
    });
    try {
      const posted = await fetch(`${lite.state.http}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'pglite.test', source: 'test', payload: { n: 1 } }),
      });
      expect(posted.status).toBe(202);
      const { id } = (await posted.json()) as { id: string };
      let stored: Response | undefined;
      for (let i = 0; i < 200 && stored?.status !== 200; i++) {
        stored = await fetch(`${lite.state.http}/events/${id}`);
        if (stored.status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(await stored!.json()).toMatchObject({ id, type: 'pglite.test', payload: { n: 1 } });
    } finally {
      await lite.stop();
    }
  }, 120_000);
});
