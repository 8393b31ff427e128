import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createClient } from '@redis/client';
import { diffConfig } from '../../config/folder.ts';
import { readQueueDepth } from '../../mq/queues.ts';
import { isAlive } from './services.ts';
import type { TwinState } from './twin.ts';

/** One part of the status screen: a title, one line per item, and whether anything in it needs a look. */
export interface StatusSection {
  title: string;
  lines: string[];
  problem: boolean;
}

/** The state file of the twin of `env` that is running now, if one is. */
export function runningTwin(stateDir: string, env: string): TwinState | undefined {
  const file = join(stateDir, env, 'twin.json');
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as TwinState;
    return isAlive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

function seconds(ms: number): string {
  return ms < 1_000
    ? `${ms} ms`
    : ms < 120_000
      ? `${Math.round(ms / 1000)} s`
      : `${Math.round(ms / 60_000)} min`;
}

/**
 * Queue and dead-letter depths, with the age of each queue's oldest message from `oldestAgeMs` (the emulator's
 * inspection endpoint locally, CloudWatch's ApproximateAgeOfOldestMessage in AWS).
 */
export async function queueSection(
  client: SQSClient,
  queues: { name: string; url: string; deadLetterUrl?: string }[],
  oldestAgeMs: (queue: { name: string; url: string }) => Promise<number | undefined>,
): Promise<StatusSection> {
  const deadLetterUrls = new Set(queues.map((q) => q.deadLetterUrl).filter(Boolean));
  const lines: string[] = [];
  let problem = false;
  for (const queue of queues) {
    try {
      const d = await readQueueDepth(client, queue.url);
      const age = await oldestAgeMs(queue).catch(() => undefined);
      const dead = deadLetterUrls.has(queue.url);
      if (dead && d.visible + d.inFlight > 0) problem = true;
      lines.push(
        `${dead ? 'dead letters ' : 'queue        '}${queue.name}: ${d.visible} visible, ${d.inFlight} in flight, ${d.delayed} delayed` +
          (age !== undefined ? `, oldest ${seconds(age)}` : ''),
      );
    } catch (error) {
      problem = true;
      lines.push(`queue        ${queue.name}: not readable: ${(error as Error).message}`);
    }
  }
  return { title: 'queues', lines, problem };
}

/** Differences between infra/config and the parameters in SSM. */
export async function driftSection(
  client: SSMClient,
  configDir: string,
  env: string,
): Promise<StatusSection> {
  try {
    const differences = await diffConfig(client, configDir, { env });
    if (differences.length === 0)
      return { title: 'config', lines: [`no drift from ${configDir}/${env}`], problem: false };
    return {
      title: 'config',
      lines: differences.map((d) => {
        const where =
          d.kind === 'added'
            ? 'only in the folder'
            : d.kind === 'removed'
              ? 'only in SSM'
              : d.fields.join('; ');
        return `drift ${d.name}: ${where}`;
      }),
      problem: true,
    };
  } catch (error) {
    return { title: 'config', lines: [`not compared: ${(error as Error).message}`], problem: true };
  }
}

/** Every circuit kept in Redis (`redisStore`), with its state; and the cache's own health. */
export async function redisSections(url: string): Promise<StatusSection[]> {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    const started = performance.now();
    await client.connect();
    await client.ping();
    const pingMs = performance.now() - started;
    const memory = /used_memory_human:(\S+)/.exec(await client.info('memory'))?.[1] ?? '?';
    const keys = await client.dbSize();
    const circuits: string[] = [];
    let open = false;
    for await (const batch of client.scanIterator({ MATCH: '*breaker:{*}', COUNT: 100 })) {
      for (const key of batch as unknown as string[]) {
        const fields = await client.hGetAll(key);
        const name = /breaker:\{(.+)\}$/.exec(key)?.[1] ?? key;
        const openUntil = Number(fields.openUntil ?? 0);
        const state = fields.state ?? 'closed';
        if (state !== 'closed') open = true;
        const until =
          state === 'open'
            ? openUntil > Date.now()
              ? `, probes in ${seconds(openUntil - Date.now())}`
              : ', probing'
            : '';
        circuits.push(
          `circuit ${name} (${key.slice(0, key.length - `breaker:{${name}}`.length).replace(/:$/, '') || 'no prefix'}): ${state}${until}`,
        );
      }
    }
    return [
      {
        title: 'cache',
        lines: [`${url}: PING ${pingMs.toFixed(1)} ms, ${keys} keys, ${memory} used`],
        problem: false,
      },
      {
        title: 'circuits',
        lines:
          circuits.length > 0
            ? circuits.sort()
            : ['none recorded yet (a circuit is written on its first sync)'],
        problem: open,
      },
    ];
  } catch (error) {
    const message = `${url}: not reachable: ${(error as Error).message}`;
    return [
      { title: 'cache', lines: [message], problem: true },
      { title: 'circuits', lines: ['unknown: the cache that holds them is not reachable'], problem: true },
    ];
  } finally {
    if (client.isOpen) await client.close().catch(() => {});
  }
}

/** `GET /health` of the API, as its answer says. */
export async function healthSection(fetchHealth: () => Promise<Response>): Promise<StatusSection> {
  try {
    const response = await fetchHealth();
    const body = (await response.json()) as {
      status?: string;
      components?: { name: string; status: string; message?: string }[];
    };
    return {
      title: 'health',
      lines: [
        `${response.status} ${body.status ?? ''}`.trim(),
        ...(body.components ?? []).map((c) => `${c.name}: ${c.status}${c.message ? ` (${c.message})` : ''}`),
      ],
      problem: body.status !== 'healthy',
    };
  } catch (error) {
    return { title: 'health', lines: [`not reachable: ${(error as Error).message}`], problem: true };
  }
}

/** The status screen: one block per section, `!` before a section that needs a look. */
export function formatStatus(heading: string, sections: StatusSection[]): string[] {
  const lines = [heading];
  for (const section of sections) {
    lines.push(`${section.problem ? '!' : ' '} ${section.title}`);
    for (const line of section.lines) lines.push(`    ${line}`);
  }
  return lines;
}

/** The age of a queue's oldest message in the emulator, from its inspection endpoint (SQS itself has none). */
async function emulatorOldestAgeMs(sqsUrl: string, queueName: string): Promise<number | undefined> {
  const response = await fetch(`${sqsUrl}/_fauxqs/queues/${encodeURIComponent(queueName)}`);
  const { messages } = (await response.json()) as {
    messages?: {
      ready: { sentTimestamp: number }[];
      delayed: { sentTimestamp: number }[];
      inflight: { message: { sentTimestamp: number } }[];
    };
  };
  const sent = messages
    ? [...messages.ready, ...messages.delayed, ...messages.inflight.map((i) => i.message)].map(
        (m) => m.sentTimestamp,
      )
    : [];
  return sent.length > 0 ? Date.now() - Math.min(...sent) : undefined;
}

/** The status of a running twin, from its state file: queues, drift, cache and circuits, `/health`. */
export async function twinStatus(twin: TwinState, configDir: string): Promise<StatusSection[]> {
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const sqs = new SQSClient({ endpoint: twin.sqs, region: twin.region, credentials });
  const ssm = new SSMClient({ endpoint: twin.ssm, region: twin.region, credentials });
  try {
    return [
      await queueSection(sqs, twin.queues, (q) => emulatorOldestAgeMs(twin.sqs, q.name)),
      await driftSection(ssm, configDir, twin.env),
      ...(twin.cache
        ? await redisSections(twin.cache)
        : [{ title: 'cache', lines: ['off: the twin runs without a cache'], problem: false }]),
      await healthSection(() => fetch(`${twin.http}/health`, { signal: AbortSignal.timeout(5_000) })),
    ];
  } finally {
    sqs.destroy();
    ssm.destroy();
  }
}
