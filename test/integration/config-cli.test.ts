import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure, ssmClient, useSsmEndpoint } from '../support/aws.ts';

const BIN = resolve('shared/bin/lambda-infra.ts');

let dir: string;

const local = useSsmEndpoint();

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AWS_ENDPOINT_URL_SSM: local.endpoint.url, AWS_REGION: 'us-east-1' } },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function writeJson(path: string, value: unknown) {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2));
}

async function value(name: string) {
  const { Parameter } = await local.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  return {
    type: Parameter?.Type,
    value: JSON.parse(Parameter?.Value ?? 'null'),
    version: Parameter?.Version,
  };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lambda-infra-config-'));
  await writeJson(join(dir, 'dev/orders/cache.json'), { host: 'cache.dev', pool: { max: 5 } });
  await writeJson(join(dir, 'dev/orders/db.secure.json'), { user: 'app', password: 'hunter2' });
  await writeJson(join(dir, 'dev/billing/flags.json'), { beta: true });
  await writeJson(join(dir, 'prod/orders/cache.json'), { host: 'cache.prod', pool: { max: 50 } });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lambda-infra config', () => {
  it('import writes each file of the env to its parameter, SecureString for .secure.json', async () => {
    const result = await cli('config', 'import', '--env', 'dev', '--dir', dir);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('3 written, 0 unchanged, 0 deleted');
    expect(await value('/config/dev/orders/cache')).toMatchObject({
      type: 'String',
      value: { host: 'cache.dev', pool: { max: 5 } },
    });
    expect(await value('/config/dev/orders/db')).toMatchObject({
      type: 'SecureString',
      value: { password: 'hunter2' },
    });
    expect(await value('/config/dev/billing/flags')).toMatchObject({ value: { beta: true } });
    expect(local.endpoint.store.size).toBe(3);
  });

  it('import again changes nothing, so versions move only on real changes', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);

    const again = await cli('config', 'import', '--env', 'dev', '--dir', dir);

    expect(again.stdout).toContain('0 written, 3 unchanged');
    expect((await value('/config/dev/orders/cache')).version).toBe(1);
  });

  it('export writes back the same files', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);
    const out = await mkdtemp(join(tmpdir(), 'lambda-infra-export-'));

    const result = await cli('config', 'export', '--env', 'dev', '--dir', out);

    expect(result.code).toBe(0);
    expect((await readdir(join(out, 'dev/orders'))).sort()).toEqual(['cache.json', 'db.secure.json']);
    for (const file of ['dev/orders/cache.json', 'dev/orders/db.secure.json', 'dev/billing/flags.json']) {
      expect(JSON.parse(await readFile(join(out, file), 'utf8'))).toEqual(
        JSON.parse(await readFile(join(dir, file), 'utf8')),
      );
    }
    await rm(out, { recursive: true, force: true });
  });

  it('diff shows added, removed and changed components field by field, masking secure values', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);
    await writeJson(join(dir, 'dev/orders/cache.json'), { host: 'cache.dev', pool: { max: 10 } });
    await writeJson(join(dir, 'dev/orders/db.secure.json'), { user: 'app', password: 'rotated' });
    await writeJson(join(dir, 'dev/orders/queue.json'), { batchSize: 10 });
    await rm(join(dir, 'dev/billing'), { recursive: true });

    const result = await cli('config', 'diff', '--env', 'dev', '--dir', dir, '--exit-code');

    // 3, "something to look at", so that a failed diff (1) is not taken for one with differences.
    expect(result.code).toBe(3);
    expect(result.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        '- /config/dev/billing/flags (only in SSM)',
        '~ /config/dev/orders/cache',
        '    pool.max: 5 -> 10',
        '~ /config/dev/orders/db',
        '    password: *** -> ***',
        '+ /config/dev/orders/queue (only in the folder)',
        '4 difference(s)',
      ]),
    );
    expect(result.stdout).not.toContain('rotated');
  });

  it('diff after an import reports nothing and exits 0', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);

    const result = await cli(
      'config',
      'diff',
      '--env',
      'dev',
      '--service',
      'orders',
      '--dir',
      dir,
      '--exit-code',
    );

    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('no differences');
  });

  it('get prints one component decrypted', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);

    const result = await cli('config', 'get', 'dev', 'orders', 'db');

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ user: 'app', password: 'hunter2' });
  });

  it('import --prune deletes components the folder no longer has, only within the scope', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);
    await cli('config', 'import', '--env', 'prod', '--dir', dir);
    await rm(join(dir, 'dev/billing'), { recursive: true });

    const result = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--prune');

    expect(result.stdout).toContain('deleted /config/dev/billing/flags');
    expect(local.endpoint.store.size).toBe(3);
    expect((await value('/config/prod/orders/cache')).value.host).toBe('cache.prod');
  });

  it('refuses a folder with an invalid file, names it, and writes nothing', async () => {
    await writeFile(join(dir, 'dev/orders/broken.json'), '{"host": ');
    await writeJson(join(dir, 'dev/orders/list.json'), [1, 2]);

    const result = await cli('config', 'import', '--env', 'dev', '--dir', dir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(join(dir, 'dev/orders/broken.json'));
    expect(result.stderr).toContain('not valid JSON');
    expect(result.stderr).toContain('list.json: must hold a JSON object');
    expect(local.endpoint.store.size).toBe(0);
  });

  it('says what is wrong with the command line and exits 2', async () => {
    const noEnv = await cli('config', 'import', '--dir', dir);
    const unknown = await cli('config', 'explode');
    const badFlag = await cli('config', 'import', '--env', 'dev', '--no-such-flag');

    expect([noEnv.code, unknown.code, badFlag.code]).toEqual([2, 2, 2]);
    expect(noEnv.stderr).toContain('--env is required');
    expect(unknown.stderr).toContain('unknown config command: explode');
  });

  it('reports an SSM failure with its code and exits 1', async () => {
    local.endpoint.failNext({ code: 'AccessDeniedException', message: 'not allowed here', times: 5 });

    const result = await cli('config', 'get', 'dev', 'orders', 'cache');

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('lambda-infra: AccessDeniedException: not allowed here');
  });
});

describe('lambda-infra config, knowing the schemas', () => {
  // The repository's own catalog: every service's defineConfig components.
  const CATALOG = resolve('infra/config/components.ts');
  const api = (value: unknown) => writeJson(join(dir, 'dev/events-api/api.json'), value);

  it('refuses at import a value its component refuses, naming the file, the field and the rule, and writes nothing', async () => {
    await api({ maxPayloadBytes: 'big' });
    await writeJson(join(dir, 'dev/events-worker/retry.json'), { baseDelaySeconds: -1 });

    const result = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--components', CATALOG);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${join(dir, 'dev/events-api/api.json')}: maxPayloadBytes: Invalid input: expected number, received string [rule: invalid_type]`,
    );
    expect(result.stderr).toMatch(/events-worker\/retry\.json: baseDelaySeconds: .* \[rule: too_small\]/);
    expect(local.endpoint.store.size).toBe(0);
  });

  it('refuses hostile values too: a number out of range, a key that would set a prototype, a wrong type nested', async () => {
    await mkdir(join(dir, 'dev/events-api'), { recursive: true });
    await writeFile(
      join(dir, 'dev/events-api/api.json'),
      '{"maxPayloadBytes": 1e308, "__proto__": {"statsTtlSeconds": -5}}',
    );

    const result = await cli(
      'config',
      'diff',
      '--env',
      'dev',
      '--dir',
      dir,
      '--components',
      CATALOG,
      '--exit-code',
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('maxPayloadBytes: Too big');
    expect(result.stderr).not.toContain('statsTtlSeconds');
  });

  it('refuses a component or a service the catalog does not define', async () => {
    await writeJson(join(dir, 'dev/events-api/apii.json'), { maxPayloadBytes: 10 });

    const result = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--components', CATALOG);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      '"apii" is not a config component of events-api (it has config, api, db, cache, breaker)',
    );
    expect(result.stderr).toContain('service "orders" has no config components in');
    expect(local.endpoint.store.size).toBe(0);
  });

  it('imports the repository’s own folder, every file valid against its component', async () => {
    const result = await cli(
      'config',
      'import',
      '--env',
      'prod',
      '--dir',
      resolve('infra/config'),
      '--dry-run',
    );

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('would write /config/prod/events-api/api');
  });

  it('refuses an --env the folder does not have, exits 2, and names the ones it has', async () => {
    const imported = await cli('config', 'import', '--env', 'dve', '--dir', dir);
    const diffed = await cli('config', 'diff', '--env', 'dve', '--dir', dir, '--exit-code');
    const exported = await cli('config', 'export', '--env', 'dve', '--dir', dir);

    expect([imported.code, diffed.code]).toEqual([2, 2]);
    expect(imported.stderr).toContain(`--env dve: ${dir} has no such environment (it has dev, prod)`);
    expect(exported.code).toBe(1);
    expect(exported.stderr).toContain('SSM has no config under /config/dve');
  });

  it('gives each command its own options and --help, and refuses one it does not take', async () => {
    const stray = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--queue', 'http://q');
    const purge = await cli('dlq', 'purge', '--queue', 'http://q', '--env', 'dev');
    const help = await cli('config', 'diff', '--help');

    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('--queue is not an option of config import');
    expect(purge.code).toBe(2);
    expect(purge.stderr).toContain('--env is not an option of dlq purge');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('config diff');
    expect(help.stdout).toContain('--exit-code');
    expect(help.stdout).not.toContain('dlq');
    expect(local.endpoint.store.size).toBe(0);
  });

  it('exports a SecureString readable by its owner alone, an existing file too', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);
    const out = await mkdtemp(join(tmpdir(), 'lambda-infra-export-'));
    await writeJson(join(out, 'dev/orders/db.secure.json'), { stale: true });
    await chmod(join(out, 'dev/orders/db.secure.json'), 0o644);

    const result = await cli('config', 'export', '--env', 'dev', '--dir', out);

    expect(result.code).toBe(0);
    expect((await stat(join(out, 'dev/orders/db.secure.json'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(out, 'dev/orders/db.secure.json'), 'utf8'))).toEqual({
      user: 'app',
      password: 'hunter2',
    });
    await rm(out, { recursive: true, force: true });
  });

  it('--prune never deletes a SecureString no import wrote, unless told with --prune-secure', async () => {
    await cli('config', 'import', '--env', 'dev', '--dir', dir);
    await local.ssm.send(
      new PutParameterCommand({
        Name: '/config/dev/orders/manual',
        Value: '{"token":"t"}',
        Type: 'SecureString',
      }),
    );
    await rm(join(dir, 'dev/orders/db.secure.json'));
    await rm(join(dir, 'dev/billing'), { recursive: true });

    const pruned = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--prune');

    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain('deleted /config/dev/orders/db');
    expect(pruned.stdout).toContain('deleted /config/dev/billing/flags');
    expect(pruned.stdout).toContain('kept /config/dev/orders/manual');
    expect((await value('/config/dev/orders/manual')).value).toEqual({ token: 't' });

    const told = await cli('config', 'import', '--env', 'dev', '--dir', dir, '--prune', '--prune-secure');

    expect(told.stdout).toContain('deleted /config/dev/orders/manual');
    expect(local.endpoint.store.size).toBe(1);
  });

  it('keeps *.secure.json files out of git', async () => {
    const ignored = await new Promise<number>((done) =>
      execFile('git', ['check-ignore', '-q', 'infra/config/dev/events-api/token.secure.json'], (error) =>
        done(error ? Number(error.code) : 0),
      ),
    );

    expect(ignored).toBe(0);
  });
});

describe('lambda-infra local ssm', () => {
  let child: ChildProcess | undefined;

  /** `lambda-infra local ssm --port 0 --seed DIR` and more, once it says where it listens. */
  async function startLocalSsm(
    args: string[],
    env: NodeJS.ProcessEnv,
  ): Promise<{ url: string; output: () => string }> {
    child = spawn(process.execPath, [BIN, 'local', 'ssm', '--port', '0', '--seed', dir, ...args], { env });
    let output = '';
    const url = await new Promise<string>((found, fail) => {
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) found(match[1]!);
      });
      child!.once('exit', (code) => fail(new Error(`exited ${code}: ${output}`)));
    });
    return { url, output: () => output };
  }

  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('prints the URL it listens on, serves the seeded config, and stops on SIGTERM', async () => {
    // As a new user runs it: no AWS region, credentials or endpoint in the environment.
    const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    const { url, output } = await startLocalSsm([], { ...bare, HOME: dir });
    const client = ssmClient(url);

    const { Parameter } = await client.send(new GetParameterCommand({ Name: '/config/prod/orders/cache' }));
    const exit = new Promise<number | null>((done) => child!.once('exit', done));
    child!.kill('SIGTERM');

    expect(output()).toContain('seeded 3 component(s) of dev');
    expect(JSON.parse(Parameter?.Value ?? '')).toEqual({ host: 'cache.prod', pool: { max: 50 } });
    expect(await exit).toBe(0);
    client.destroy();
  });

  it('with --throttle-tps, answers reads past the rate with ThrottlingException', async () => {
    const { url, output } = await startLocalSsm(['--throttle-tps', '1'], { ...process.env, HOME: dir });
    const client = ssmClient(url);
    const read = () => client.send(new GetParameterCommand({ Name: '/config/prod/orders/cache' }));

    await read();
    const refused = await failure(read());
    client.destroy();

    expect(output()).toContain('(reads throttled past 1 a second)');
    expect(refused.name).toBe('ThrottlingException');
  });

  it.each(['0', 'fast'])('refuses --throttle-tps %j with exit 2, naming the rule', async (tps) => {
    const result = await cli('local', 'ssm', `--throttle-tps=${tps}`);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `--throttle-tps must be a positive number of requests a second, got ${tps}`,
    );
  });
});
