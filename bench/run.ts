// npm run bench: every benchmark, each with its anchor in the same run; results go to bench/results/.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchBreaker, breakerTable } from './breaker.ts';
import { benchCache, cacheTable } from './cache.ts';
import { benchHandler, handlerTable } from './handler.ts';
import { benchMq, mqTable } from './mq.ts';

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

// Each benchmark: its heading, its run, and the table its results file and the README take.
const benchmarks = [
  { name: 'handler', title: 'Handler: cold start and warm overhead', run: benchHandler, table: handlerTable },
  {
    name: 'cache',
    title: 'Cache: get and set against raw @redis/client, L1 and getOrSet hits',
    run: benchCache,
    table: cacheTable,
  },
  {
    name: 'breaker',
    title: 'Breaker: closed-state overhead and memory, against cockatiel and opossum',
    run: benchBreaker,
    table: breakerTable,
  },
  {
    name: 'mq',
    title: 'Messaging: publishBatch against one SendMessage each, and the consumer against a bare loop',
    run: benchMq,
    table: mqTable,
  },
] as const;

for (const bench of benchmarks) {
  if (!wanted(bench.name)) continue;
  console.log(`## ${bench.title}\n`);
  const result = await bench.run();
  const table = (bench.table as (r: typeof result) => string)(result);
  console.log(`${table}\n`);
  await writeFile(`bench/results/${bench.name}.json`, `${JSON.stringify({ machine, ...result }, null, 2)}\n`);
  await writeFile(
    `bench/results/${bench.name}.md`,
    `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
  );
}
