import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { TwinState } from '@lambda-infra/shared/local/twin';
import { isAlive } from '@lambda-infra/shared/local/twin/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/sqs.ts';
import { startDev } from '../support/twin.ts';

// `npm run dev` as a new user runs it: a child process in a process group of its own (a terminal's), on free
// ports, with its own state folder (so a fresh embedded PostgreSQL), stopped with Ctrl-C (SIGINT to the group).
const STATE = mkdtempSync(join(tmpdir(), 'lambda-infra-dev-'));
// The embedded server runs as the user postgres when the tests run as root: it must reach its folder.
chmodSync(STATE, 0o755);

let child: ChildProcess;
let output = '';
let url = '';
let state: TwinState;

function killGroup(process_: ChildProcess): void {
  try {
    process.kill(-process_.pid!, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile('npx', ['lambda-infra', ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) p.stdin!.end(input);
  });
}

beforeAll(async () => {
  child = spawn('npm', ['run', 'dev', '--', '--port', '0', '--state-dir', STATE], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  await until(() => {
    if (child.exitCode !== null) throw new Error(`npm run dev exited with ${child.exitCode}:\n${output}`);
    return /ready: http:\/\//.test(output);
  }, 150_000);
  url = /ready: (http:\/\/[\d.:]+)/.exec(output)![1]!;
  state = JSON.parse(readFileSync(join(STATE, 'dev', 'twin.json'), 'utf8')) as TwinState;
}, 180_000);

afterAll(() => {
  killGroup(child);
  rmSync(STATE, { recursive: true, force: true });
});

describe('npm run dev: the stack on this machine', () => {
  it('says where everything runs, and that IAM is not checked locally', () => {
    expect(output).toMatch(
      /HTTP API +http:\/\/127\.0\.0\.1:\d+ +\(AWS_IAM authorization is not checked locally\)/,
    );
    expect(output).toMatch(/POST \/events +-> events-api/);
    expect(output).toMatch(/database +embedded PostgreSQL on 127\.0\.0\.1:\d+/);
    expect(output).toMatch(/dead letters after 7 receives/);
    expect(output).toMatch(/db-migrate +- +trigger -> .*0001_events/);
  });

  it('takes an event over HTTP, stores it through the queue and the worker, and serves it back', async () => {
    const posted = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-correlation-id': 'dev-test-1' },
      body: JSON.stringify({ type: 'order.placed', source: 'shop', payload: { total: 12 } }),
    });
    expect(posted.status).toBe(202);
    const { id } = (await posted.json()) as { id: string };
    let stored: Response | undefined;
    await until(async () => {
      stored = await fetch(`${url}/events/${id}`);
      return stored.status === 200;
    }, 30_000);
    expect(await stored!.json()).toMatchObject({
      id,
      type: 'order.placed',
      payload: { total: 12 },
      correlationId: 'dev-test-1',
    });
    // One line per request and per message, each with its function and correlation id.
    await until(() => /events-worker +dev-test-1 +message \S+ -> done/.test(output));
    expect(output).toMatch(/events-api +dev-test-1 +POST \/events -> 202/);
  });

  it('dead-letters a poison message with its reason, where `lambda-infra dlq inspect` finds it', async () => {
    const queue = state.queues.find((q) => q.deadLetterUrl)!;
    const sqs = new SQSClient({ endpoint: state.sqs, region: state.region });
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: '{"poison":true}' }));
    sqs.destroy();
    let inspected = { code: 0, stdout: '', stderr: '' };
    await until(async () => {
      inspected = await cli(['dlq', 'inspect', '--queue', queue.deadLetterUrl!, '--endpoint-url', state.sqs]);
      return inspected.stdout.includes('{\\"poison\\":true}');
    }, 45_000);
    expect(inspected.code).toBe(0);
    const letter = inspected.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) => JSON.parse(line) as { body: string; reason: { errorType: string; errorMessage: string } },
      )
      .find((l) => l.body === '{"poison":true}');
    expect(letter?.reason).toMatchObject({
      errorType: 'validation',
      errorMessage: expect.stringContaining('message body is invalid'),
    });
  }, 60_000);

  it('answers `lambda-infra status` and `invoke` against the running twin', async () => {
    const status = await cli(['status', '--state-dir', STATE]);
    expect(status.code).toBe(3); // the dead letter above needs a look
    expect(status.stdout).toMatch(/! queues\n\s+dead letters \S+: 1 visible/);
    expect(status.stdout).toMatch(/config\n\s+no drift/);
    expect(status.stdout).toMatch(/cache\n\s+redis:\/\/127\.0\.0\.1:\d+: PING/);
    expect(status.stdout).toMatch(/health\n\s+200 degraded/);
    const event = await cli(['event', 'http', '--method', 'GET', '--path', '/health']);
    const invoked = await cli(['invoke', 'events-api', '--event', '-', '--state-dir', STATE], event.stdout);
    expect(invoked.code).toBe(0);
    expect(JSON.parse(invoked.stdout)).toMatchObject({ statusCode: 200 });
    const unknown = await cli(['invoke', 'nope', '--state-dir', STATE]);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('the twin runs') });
  });

  it('stops everything it started on Ctrl-C', async () => {
    const pids = (JSON.parse(readFileSync(join(STATE, 'dev', 'twin.json'), 'utf8')) as TwinState).pids;
    expect(pids.length).toBeGreaterThanOrEqual(4); // the twin, PostgreSQL, redis-server, containers
    const exited = new Promise<string>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? String(code))),
    );
    process.kill(-child.pid!, 'SIGINT');
    // npm itself reports the interrupt, as it does for any script it runs; the twin's own exit is below.
    expect(['SIGINT', '130']).toContain(await exited);
    await until(() => pids.every((pid) => !isAlive(pid)), 10_000);
    const group = spawnSync('ps', ['-o', 'pid=,args=', '-g', String(child.pid)])
      .stdout.toString()
      .trim();
    expect(group).toBe('');
    expect(existsSync(join(STATE, 'dev', 'twin.json'))).toBe(false);
    expect(output).toMatch(/stopped: nothing of the twin is left running/);
  }, 60_000);

  it('keeps the database between runs, and exits 0 on Ctrl-C', async () => {
    // The twin itself, without npm in between (npm reports any interrupt of its script as its own).
    const again = await startDev(STATE);
    try {
      const log = again.log();
      // Migrations applied in the first run stay applied; the event stored then is still there.
      expect(log).toMatch(/db-migrate +- +trigger -> \{"direction":"up","applied":\[\]/);
      const stats = await fetch(`${again.state.http}/events/stats?type=order.placed`);
      expect(stats.status).toBe(200);
      expect(JSON.stringify(await stats.json())).toMatch(/"count":1/);
      expect(await again.interrupt()).toBe('0');
      expect(
        spawnSync('ps', ['-o', 'pid=', '-g', String(again.child.pid)])
          .stdout.toString()
          .trim(),
      ).toBe('');
    } finally {
      again.kill();
    }
  }, 150_000);
});
