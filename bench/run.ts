// npm run bench: every benchmark, each with its anchor in the same run; results go to bench/results/.
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchHandler, handlerTable } from './handler.ts';

const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  date: new Date().toISOString(),
};

console.log(`node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`);

console.log('## Handler: cold start and warm overhead\n');
const handler = await benchHandler();
const table = handlerTable(handler);
console.log(`${table}\n`);
await writeFile('bench/results/handler.json', `${JSON.stringify({ machine, ...handler }, null, 2)}\n`);
await writeFile(
  'bench/results/handler.md',
  `${table}\n\n${machine.date}, node ${machine.node}, ${machine.cores} × ${machine.cpu}\n`,
);
