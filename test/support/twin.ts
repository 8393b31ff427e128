// `lambda-infra dev` as a process of its own, in a process group of its own (as a terminal runs it), for tests
// that stop it with Ctrl-C (SIGINT to the group) or kill it, and for the twin benchmark.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TwinState } from '@lambda-infra/shared/local/twin';

export interface DevProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  log(): string;
  /** Its state file as it was when it was ready. */
  state: TwinState;
  /** SIGINT to its group, as Ctrl-C sends it; resolves with its exit code, or the signal that ended it. */
  interrupt(): Promise<string>;
  /** SIGKILL to its group, if any of it is left. */
  kill(): void;
}

/** Starts the CLI (not through npm) on free ports with `stateDir`, and waits for its ready line. */
export async function startDev(stateDir: string): Promise<DevProcess> {
  const child = spawn(
    process.execPath,
    ['shared/bin/lambda-infra.ts', 'dev', '--port', '0', '--state-dir', stateDir],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  // Resolved on the output that says ready, not by polling it: the benchmark times this.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`the twin was not ready in 120 s:\n${output}`));
    }, 120_000);
    const onData = (c: Buffer) => {
      output += c;
      if (output.includes('ready: http://')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the twin exited with ${code}:\n${output}`));
    });
  });
  const state = JSON.parse(readFileSync(join(stateDir, 'dev', 'twin.json'), 'utf8')) as TwinState;
  return {
    child,
    log: () => output,
    state,
    interrupt: () => {
      const exited = new Promise<string>((resolve) =>
        child.once('exit', (code, signal) => resolve(signal ?? String(code))),
      );
      process.kill(-child.pid!, 'SIGINT');
      return exited;
    },
    kill,
  };
}
