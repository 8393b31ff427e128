import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isAlive } from './services.ts';
import type { TwinFunction } from './template.ts';

const RUNTIME = fileURLToPath(new URL('./runtime.ts', import.meta.url));

export interface InvokeError {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

export type InvokeResult =
  | { ok: true; value: unknown; durationMs: number; coldStart: boolean }
  | { ok: false; error: InvokeError; durationMs: number; coldStart: boolean; timedOut?: boolean };

/** One line a container wrote, with the invocation it wrote it during (none between invocations). */
export interface ContainerLine {
  function: string;
  stream: 'stdout' | 'stderr';
  line: string;
  requestId?: string;
}

export interface FunctionPool {
  readonly fn: TwinFunction;
  /** Runs one invocation in an idle container, or a new one (a cold start) while fewer than the limit run. */
  invoke(event: unknown, options?: { requestId?: string }): Promise<InvokeResult>;
  /** New code or environment: idle containers stop now, busy ones after their invocation. */
  replace(fn: TwinFunction, env: Record<string, string>): void;
  /** Pids of the containers running now. */
  pids(): number[];
  readonly coldStarts: number;
  stop(): Promise<void>;
}

/**
 * The function's code laid out as Lambda does: its bundle in a task folder and each layer's `nodejs/node_modules`
 * packages beside it (the runtime puts /opt/nodejs/node_modules on the resolution path). The folder sits inside
 * the project, so the project's node_modules stands in for the SDK the Node.js runtime provides. Bundle and
 * layers are copied, not linked: Node resolves a linked file's imports from where it really is, and the cloud
 * assembly may be anywhere.
 */
export function layOutTask(fn: TwinFunction, tasksDir: string): string {
  const task = join(tasksDir, `${fn.name.replaceAll('/', '-')}-${randomUUID().slice(0, 8)}`);
  mkdirSync(task, { recursive: true });
  cpSync(fn.codeDir, task, { recursive: true });
  const modules = join(task, 'node_modules');
  for (const layer of fn.layerDirs) {
    const from = join(layer, 'nodejs/node_modules');
    let names: string[];
    try {
      names = readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      const inner = name.startsWith('@') ? readdirSync(join(from, name)).map((n) => `${name}/${n}`) : [name];
      for (const pkg of inner) {
        // A later layer does not replace what an earlier one laid out, as in /opt.
        if (existsSync(join(modules, pkg))) continue;
        cpSync(join(from, pkg), join(modules, pkg), { recursive: true, dereference: true });
      }
    }
  }
  return task;
}

/** Task folders of processes that are gone (a twin killed before it could remove its own). */
export function removeStaleTasks(tasksRoot: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tasksRoot);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (/^\d+$/.test(entry) && !isAlive(Number(entry)))
      rmSync(join(tasksRoot, entry), { recursive: true, force: true });
  }
}

interface Container {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  retire: boolean;
  current?: { id: number; requestId: string; settle: (result: InvokeResult) => void; started: number };
  used: boolean;
}

/**
 * Containers of one function, each a process of its own running one invocation at a time, with the function's
 * environment and only that (no credentials of the person running it), and its timeout enforced: a container
 * still running at the end of it is killed, as Lambda stops it, and the next invocation starts a new one.
 */
export function startFunctionPool(options: {
  fn: TwinFunction;
  env: Record<string, string>;
  tasksDir: string;
  /** Containers at most at once; more invocations wait. */
  maxContainers: number;
  onLine: (line: ContainerLine) => void;
  onExit?: (message: string) => void;
  /** A container started or ended: the pids changed. */
  onContainersChanged?: () => void;
}): FunctionPool {
  let fn = options.fn;
  let env = options.env;
  let task = layOutTask(fn, options.tasksDir);
  const containers = new Set<Container>();
  const waiting: (() => void)[] = [];
  let coldStarts = 0;
  let nextId = 0;
  let stopped = false;

  const spawn = (): Container => {
    const child = fork(RUNTIME, [], {
      env: {
        ...env,
        LAMBDA_TASK_ROOT: task,
        _HANDLER: fn.handler,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      },
      cwd: task,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Lambda gives a container its memory size; the heap follows it.
      execArgv: [`--max-old-space-size=${Math.max(64, Math.floor(fn.memoryMb * 0.8))}`],
    });
    const container: Container = { child, busy: false, retire: false, used: false, ready: Promise.resolve() };
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]! }).on('line', (line) =>
        options.onLine({
          function: fn.name,
          stream,
          line,
          ...(container.current ? { requestId: container.current.requestId } : {}),
        }),
      );
    }
    container.ready = new Promise<void>((resolve, reject) => {
      child.on(
        'message',
        (m: { type: string; id?: number; ok?: boolean; value?: unknown; error?: InvokeError }) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'init-error') reject(m.error);
          else if (m.type === 'result' && container.current && container.current.id === m.id) {
            const { settle, started } = container.current;
            const coldStart = !container.used;
            container.used = true;
            container.current = undefined;
            settle(
              m.ok
                ? { ok: true, value: m.value, durationMs: Date.now() - started, coldStart }
                : { ok: false, error: m.error!, durationMs: Date.now() - started, coldStart },
            );
          }
        },
      );
      child.once('exit', (code, signal) => {
        containers.delete(container);
        options.onContainersChanged?.();
        const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
        reject({ errorType: 'Runtime.ExitError', errorMessage: `the container ${why} before it was ready` });
        if (container.current) {
          const { settle, started } = container.current;
          container.current = undefined;
          settle({
            ok: false,
            error: {
              errorType: 'Runtime.ExitError',
              errorMessage: `the container ${why} during the invocation`,
            },
            durationMs: Date.now() - started,
            coldStart: !container.used,
          });
        }
        if (!stopped && code !== 0 && signal !== 'SIGKILL')
          options.onExit?.(`${fn.name}: a container ${why}`);
        waiting.shift()?.();
      });
    });
    container.ready.catch(() => {});
    containers.add(container);
    options.onContainersChanged?.();
    coldStarts++;
    return container;
  };

  const acquire = async (): Promise<Container> => {
    for (;;) {
      if (stopped) throw new Error(`${fn.name} is stopping`);
      const idle = [...containers].find((c) => !c.busy && !c.retire);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (containers.size < options.maxContainers) {
        const container = spawn();
        container.busy = true;
        return container;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };

  const release = (container: Container) => {
    container.busy = false;
    if (container.retire || stopped) container.child.kill('SIGKILL');
    waiting.shift()?.();
  };

  return {
    get fn() {
      return fn;
    },
    get coldStarts() {
      return coldStarts;
    },
    pids: () => [...containers].map((c) => c.child.pid!).filter(Boolean),
    async invoke(event, invokeOptions = {}) {
      const container = await acquire();
      const requestId = invokeOptions.requestId ?? randomUUID();
      const started = Date.now();
      const timeoutMs = fn.timeoutSeconds * 1_000;
      try {
        try {
          await container.ready;
        } catch (error) {
          // An init failure fails the invocation; the next one tries a new container, as Lambda does.
          return {
            ok: false,
            error: error as InvokeError,
            durationMs: Date.now() - started,
            coldStart: true,
          };
        }
        return await new Promise<InvokeResult>((settle) => {
          const id = ++nextId;
          const timer = setTimeout(
            () => {
              if (container.current?.id !== id) return;
              container.current = undefined;
              container.child.kill('SIGKILL');
              settle({
                ok: false,
                timedOut: true,
                error: {
                  errorType: 'Sandbox.Timedout',
                  errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
                },
                durationMs: Date.now() - started,
                coldStart: !container.used,
              });
            },
            timeoutMs - (Date.now() - started),
          );
          container.current = {
            id,
            requestId,
            started,
            settle: (result) => {
              clearTimeout(timer);
              settle(result);
            },
          };
          container.child.send({
            type: 'invoke',
            id,
            event,
            deadline: started + timeoutMs,
            context: {
              functionName: fn.name,
              functionVersion: '$LATEST',
              invokedFunctionArn: `arn:aws:lambda:${env.AWS_REGION}:000000000000:function:${fn.name}`,
              memoryLimitInMB: String(fn.memoryMb),
              awsRequestId: requestId,
              logGroupName: `/aws/lambda/${fn.name}`,
              logStreamName: `local/${container.child.pid}`,
            },
          });
        });
      } finally {
        release(container);
      }
    },
    replace(next, nextEnv) {
      const old = task;
      fn = next;
      env = nextEnv;
      task = layOutTask(fn, options.tasksDir);
      for (const c of containers) {
        c.retire = true;
        if (!c.busy) c.child.kill('SIGKILL');
      }
      setTimeout(() => rmSync(old, { recursive: true, force: true }), 30_000).unref();
    },
    async stop() {
      stopped = true;
      for (const resolve of waiting.splice(0)) resolve();
      await Promise.all(
        [...containers].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
              c.child.once('exit', () => resolve());
              c.child.kill('SIGKILL');
            }),
        ),
      );
      rmSync(task, { recursive: true, force: true });
    },
  };
}
