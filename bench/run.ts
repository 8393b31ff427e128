// npm run bench: every benchmark, each with its anchor in the same run; results go to bench/results/.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchBreaker, breakerTable } from './breaker.ts';
import { benchCache, cacheTable } from './cache.ts';
import { benchHandler, handlerTable } from './handler.ts';

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

if (wanted('handler')) {
  console.log('## Handler: cold start and warm overhead\n');
  const handler = await benchHandler();
  const table = handlerTable(handler);
  console.log(`${table}\n`);
  await writeFile('bench/results/handler.json', `${JSON.stringify({ machine, ...handler }, null, 2)}\n`);
  await writeFile(
    'bench/results/handler.md',
    `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
  );
}

if (wanted('cache')) {
  console.log('## Cache: get and set against raw @redis/client, L1 and getOrSet hits\n');
  const cache = await benchCache();
  const table = cacheTable(cache);
  console.log(`${table}\n`);
  await writeFile('bench/results/cache.json', `${JSON.stringify({ machine, ...cache }, null, 2)}\n`);
  await writeFile(
    'bench/results/cache.md',
    `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
  );
}

if (wanted('breaker')) {
  console.log('## Breaker: closed-state overhead and memory, against cockatiel and opossum\n');
  const breaker = await benchBreaker();
  const table = breakerTable(breaker);
  console.log(`${table}\n`);
  await writeFile('bench/results/breaker.json', `${JSON.stringify({ machine, ...breaker }, null, 2)}\n`);
  await writeFile(
    'bench/results/breaker.md',
    `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
  );
}
