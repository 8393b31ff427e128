// biome-ignore-all lint/suspicious/noExplicitAny: a handler's result is whatever it returns.
import { execFile } from 'node:child_process';
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_DIR, bundleLayer } from '../../infra/lib/bundling.ts';
import { lambdaContext } from './events.ts';

// A function as Lambda lays it out: its bundle in a task folder, the layer's packages beside it (the runtime
// adds /opt/nodejs/node_modules to resolution). The repository's node_modules, further up, stands in for the
// SDK the runtime provides. Each run is a fresh Node process, as a cold start is.
const TASKS = join(BUILD_DIR, 'tasks');

/** `bundleDir`'s handler in a task folder of its own, beside the layer's node_modules. */
export async function layOutTask(name: string, bundleDir: string): Promise<string> {
  const layer = await bundleLayer();
  const task = join(TASKS, name);
  await rm(task, { recursive: true, force: true });
  await mkdir(task, { recursive: true });
  await cp(join(bundleDir, 'index.mjs'), join(task, 'index.mjs'));
  await symlink(join(layer.dir, 'nodejs/node_modules'), join(task, 'node_modules'), 'dir');
  return task;
}

export function removeTasks(): Promise<void> {
  return rm(TASKS, { recursive: true, force: true });
}

/** One invocation of the task's `handler` in a fresh process with `env` added: its result and what it logged. */
export function invokeTask(
  task: string,
  event: unknown,
  env: Record<string, string>,
): Promise<{ result: any; stderr: string }> {
  const script = `
    const { handler } = await import(${JSON.stringify(join(task, 'index.mjs'))});
    const result = await handler(JSON.parse(process.argv[1]), JSON.parse(process.argv[2]));
    process.stdout.write('\\n@@' + JSON.stringify(result));
    process.exit(0);`;
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify(event), JSON.stringify(lambdaContext())],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const marker = stdout.lastIndexOf('\n@@');
        if (error || marker < 0)
          return fail(new Error(`${error?.message ?? 'no result'}\n${stderr}\n${stdout}`));
        done({ result: JSON.parse(stdout.slice(marker + 3)), stderr });
      },
    );
  });
}
