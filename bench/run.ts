// npm run bench: every benchmark, each with its anchor in the same run; results go to bench/results/.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';

const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  date: new Date().toISOString(),
};

console.log(`node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`);

const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);

// Each benchmark: its heading, its run, and the table its results file and the README take. Each is loaded
// only when it runs, so that one benchmark's modules (the X-Ray SDK of the handler stack, which makes every
// await dearer) do not weigh on another's measurements.
const benchmarks = [
  {
    name: 'handler',
    title: 'Handler: cold start and warm overhead',
    load: () => import('./handler.ts').then((m) => ({ run: m.benchHandler, table: m.handlerTable })),
  },
  {
    name: 'events-api',
    title: 'events-api: POST /events against a bare handler with the same validation and SendMessage',
    load: () => import('./eventsApi.ts').then((m) => ({ run: m.benchEventsApi, table: m.eventsApiTable })),
  },
  {
    name: 'twin',
    title: 'The local twin: start to ready, and POST to stored against a bare SQS + PostgreSQL loop',
    load: () => import('./twin.ts').then((m) => ({ run: m.benchTwin, table: m.twinTable })),
  },
  {
    name: 'cache',
    title: 'Cache: get and set against raw @redis/client, L1 and getOrSet hits',
    load: () => import('./cache.ts').then((m) => ({ run: m.benchCache, table: m.cacheTable })),
  },
  {
    name: 'breaker',
    title: 'Breaker: closed-state overhead and memory, against cockatiel and opossum',
    load: () => import('./breaker.ts').then((m) => ({ run: m.benchBreaker, table: m.breakerTable })),
  },
  {
    name: 'db',
    title: 'Database: a select by primary key through Db, against raw pg and plain Kysely',
    load: () => import('./db.ts').then((m) => ({ run: m.benchDb, table: m.dbTable })),
  },
  {
    name: 'mq',
    title: 'Messaging: publishBatch against one SendMessage each, and the consumer against a bare loop',
    load: () => import('./mq.ts').then((m) => ({ run: m.benchMq, table: m.mqTable })),
  },
  {
    name: 'fleet',
    title:
      'Fleet: N containers cold-starting within 10 s against SSM throttled at 40 TPS, config shared or not',
    load: () => import('./fleet.ts').then((m) => ({ run: m.benchFleet, table: m.fleetTable })),
  },
] as const;

for (const bench of benchmarks) {
  if (!wanted(bench.name)) continue;
  console.log(`## ${bench.title}\n`);
  const { run, table: toTable } = await bench.load();
  const result = await run();
  const table = (toTable as (r: typeof result) => string)(result);
  console.log(`${table}\n`);
  await writeFile(`bench/results/${bench.name}.json`, `${JSON.stringify({ machine, ...result }, null, 2)}\n`);
  await writeFile(
    `bench/results/${bench.name}.md`,
    `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
  );
}
