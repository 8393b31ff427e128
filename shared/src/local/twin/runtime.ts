// One Lambda container of the local twin: loads the function's handler from its task folder, as the Node.js
// runtime does (`index.handler` is the export `handler` of `index.mjs`, `.js` or `.cjs`), then runs one
// invocation at a time as its supervisor sends them over IPC. Started by `startFunctionPool`, never by hand.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Invoke {
  type: 'invoke';
  id: number;
  event: unknown;
  deadline: number;
  context: Record<string, unknown>;
}

function describe(error: unknown): { errorType: string; errorMessage: string; stackTrace: string[] } {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name, errorMessage: e.message, stackTrace: (e.stack ?? '').split('\n').slice(1) };
}

const taskDir = process.env.LAMBDA_TASK_ROOT!;
const handlerName = process.env._HANDLER ?? 'index.handler';
const dot = handlerName.lastIndexOf('.');
const [file, exported] = [handlerName.slice(0, dot), handlerName.slice(dot + 1)];
const path = ['.mjs', '.js', '.cjs'].map((ext) => join(taskDir, file + ext)).find((p) => existsSync(p));

process.once('disconnect', () => process.exit(0));
// A Ctrl-C reaches the whole process group: the supervisor stops its containers itself, after the HTTP API and
// the pollers, so none dies in the middle of an invocation it was still given.
process.on('SIGINT', () => {});
try {
  if (!path)
    throw Object.assign(new Error(`Cannot find module '${file}' in ${taskDir}`), {
      name: 'Runtime.ImportModuleError',
    });
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const handler = module[exported];
  if (typeof handler !== 'function')
    throw Object.assign(new Error(`${file}.${exported} is undefined or not exported`), {
      name: 'Runtime.HandlerNotFound',
    });
  process.on('message', async (message: Invoke) => {
    if (message.type !== 'invoke') return;
    const context = {
      ...message.context,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    };
    try {
      const value = await (handler as (event: unknown, context: unknown) => unknown)(message.event, context);
      process.send?.({ type: 'result', id: message.id, ok: true, value: value ?? null });
    } catch (error) {
      process.send?.({ type: 'result', id: message.id, ok: false, error: describe(error) });
    }
  });
  process.send?.({ type: 'ready' });
} catch (error) {
  process.send?.({ type: 'init-error', error: describe(error) }, () => process.exit(1));
}
