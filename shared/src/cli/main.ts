import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  type CatalogOption,
  type ConfigCatalog,
  configEnvironments,
  diffConfig,
  exportConfig,
  getConfigValue,
  importConfig,
} from '../config/folder.ts';
import { createDb } from '../db/createDb.ts';
import { dbConfigDefaults, dbOptionsFromEnvironment, dbOptionsFromUrl } from '../db/environment.ts';
import { type MigrationStatus, Migrations, migrationsFromFolder } from '../db/migrations.ts';
import { classifyError, InfraError } from '../errors/index.ts';
import { startSsmEndpoint } from '../local/ssm/index.ts';
import { invokeAlone } from '../local/twin/alone.ts';
import { deployedStatus } from '../local/twin/deployed.ts';
import { httpApiEvent, sqsEvent } from '../local/twin/events.ts';
import { formatStatus, runningTwin, type StatusSection, twinStatus } from '../local/twin/status.ts';
import { ensureCloudAssembly, startTwin } from '../local/twin/twin.ts';
import { inspectDeadLetters, purgeDeadLetters, redrive, startNativeRedrive } from '../mq/deadLetters.ts';

/** A command: its words, what it takes, what it does, and the only options it accepts. */
interface Command {
  readonly name: string;
  readonly synopsis: string;
  readonly about: string;
  readonly options: readonly OptionName[];
}

const SSM_OPTIONS = ['endpoint-url', 'region'] as const;

const COMMANDS: readonly Command[] = [
  {
    name: 'config import',
    synopsis:
      '--env ENV [--service S] [--dir DIR] [--components FILE] [--prune [--prune-secure]] [--dry-run]',
    about:
      'write {DIR}/{env}/{service}/{component}.json to /config/{env}/{service}/{component}, every file checked\n' +
      'against its component first; --prune deletes what the folder no longer has, but a SecureString only if\n' +
      'an import wrote it (--prune-secure: any)',
    options: ['env', 'service', 'dir', 'components', 'prune', 'prune-secure', 'dry-run', ...SSM_OPTIONS],
  },
  {
    name: 'config export',
    synopsis: '--env ENV [--service S] [--dir DIR]',
    about: 'write the parameters back into the folder (*.secure.json readable by you alone)',
    options: ['env', 'service', 'dir', ...SSM_OPTIONS],
  },
  {
    name: 'config diff',
    synopsis: '--env ENV [--service S] [--dir DIR] [--components FILE] [--exit-code]',
    about: 'show what an import would change (--exit-code: exit 3 when anything would)',
    options: ['env', 'service', 'dir', 'components', 'exit-code', ...SSM_OPTIONS],
  },
  {
    name: 'config get',
    synopsis: 'ENV SERVICE COMPONENT',
    about: "print one component's JSON, decrypted",
    options: [...SSM_OPTIONS],
  },
  {
    name: 'dlq inspect',
    synopsis: '--queue URL [--max N]',
    about: 'show dead letters with their reasons, leaving them in the queue',
    options: ['queue', 'max', ...SSM_OPTIONS],
  },
  {
    name: 'dlq redrive',
    synopsis:
      '--queue URL [--to URL] [--error-type T] [--attribute NAME=VALUE] [--older-than-ms N] [--max N] [--rate N] [--native]',
    about: "move matching dead letters back to their source queue (--native: SQS's own move task)",
    options: [
      'queue',
      'to',
      'error-type',
      'attribute',
      'older-than-ms',
      'max',
      'rate',
      'native',
      ...SSM_OPTIONS,
    ],
  },
  {
    name: 'dlq purge',
    synopsis: '--queue URL [--yes]',
    about: 'delete every message of the queue; asks first unless --yes',
    options: ['queue', 'yes', ...SSM_OPTIONS],
  },
  {
    name: 'db migrate',
    synopsis: 'up|down|status [--folder DIR] [--to NAME] [--url postgres://USER@HOST:PORT/DB]',
    about:
      'apply every pending migration of DIR (default: migrations), undo the last one (--to NAME: that one and\n' +
      'every later one; --to all: every one), or list them; without --url the database comes from\n' +
      'LAMBDA_INFRA_DB_HOST, _PORT, _NAME, _USER, _AUTH and _TLS',
    options: ['folder', 'to', 'url'],
  },
  {
    name: 'local ssm',
    synopsis: '[--port N] [--host H] [--seed DIR] [--throttle-tps N]',
    about:
      'run the local SSM endpoint (--seed: import every env of a config folder first; --throttle-tps: answer\n' +
      'reads past N a second with ThrottlingException, as SSM does past its quota, which is 40 unless raised)',
    options: ['port', 'host', 'seed', 'throttle-tps'],
  },
  {
    name: 'dev',
    synopsis:
      '[--env ENV] [--port N] [--database-url URL | --database embedded|pglite] [--cache-url URL|off] [--watch]\n' +
      '[--verbose] [--cloud-assembly DIR] [--state-dir DIR]',
    about:
      'run the stack on this machine from its synthesized template (cdk.out/ENV, synthesized when older than\n' +
      'the code): parameters, queues, database, cache, functions, routes, event source mappings; Ctrl-C stops\n' +
      'all of it',
    options: [
      'env',
      'port',
      'host',
      'dir',
      'database-url',
      'database',
      'cache-url',
      'watch',
      'verbose',
      'cloud-assembly',
      'state-dir',
    ],
  },
  {
    name: 'invoke',
    synopsis: 'FUNCTION [--event FILE|-] [--env ENV]',
    about: 'run one function of the running twin (or, with none running, alone) with an event',
    options: ['event', 'env', 'cloud-assembly', 'state-dir'],
  },
  {
    name: 'event http',
    synopsis: '[--method M] [--path P] [--body JSON] [--header NAME=VALUE]...',
    about: 'print a sample HTTP API (payload 2.0) event to stdout',
    options: ['method', 'path', 'body', 'header'],
  },
  {
    name: 'event sqs',
    synopsis: '[--body TEXT]... [--queue-arn ARN] [--attribute NAME=VALUE]',
    about: 'print a sample SQS event to stdout',
    options: ['body', 'queue-arn', 'attribute'],
  },
  {
    name: 'status',
    synopsis: '[--env ENV] [--deployed]',
    about:
      'queues, dead letters, config drift, circuits, cache and /health of the running twin, or with --deployed\n' +
      'of the stack in AWS; exits 3 when something needs a look',
    options: ['env', 'deployed', 'dir', 'state-dir', 'region'],
  },
];

function describeCommand(command: Command): string {
  const indent = (text: string) => text.replaceAll('\n', '\n                 ');
  return `  ${command.name.padEnd(14)} ${indent(command.synopsis)}\n                 ${indent(command.about)}`;
}

const NOTES = `  DIR defaults to infra/config, FILE to DIR/components.ts (each service's config components, which files are
  checked against). A file named {component}.secure.json is a SecureString.
  SSM is reached through the SDK's usual settings: AWS_ENDPOINT_URL_SSM or AWS_ENDPOINT_URL, AWS_REGION,
  credentials; --endpoint-url and --region override them.
  Exit codes: 0 done, 1 failed, 2 a bad command line, 3 something to look at (config diff --exit-code, status).`;

export const USAGE = `Usage: lambda-infra <command> [--help]\n\n${COMMANDS.map(describeCommand).join('\n')}\n\n${NOTES}`;

/** The command the words name (`config import`, `dev`, …), if any. */
function commandOf(positionals: string[]): Command | undefined {
  const [group, action] = positionals;
  return COMMANDS.find((c) => c.name === `${group} ${action}`) ?? COMMANDS.find((c) => c.name === group);
}

class UsageError extends Error {}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const options = {
  env: { type: 'string' },
  service: { type: 'string' },
  dir: { type: 'string', default: 'infra/config' },
  prune: { type: 'boolean', default: false },
  'prune-secure': { type: 'boolean', default: false },
  components: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  'exit-code': { type: 'boolean', default: false },
  port: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  seed: { type: 'string' },
  'throttle-tps': { type: 'string' },
  queue: { type: 'string' },
  to: { type: 'string' },
  max: { type: 'string' },
  rate: { type: 'string' },
  'error-type': { type: 'string' },
  attribute: { type: 'string' },
  'older-than-ms': { type: 'string' },
  native: { type: 'boolean', default: false },
  folder: { type: 'string', default: 'migrations' },
  url: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'endpoint-url': { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  'database-url': { type: 'string' },
  database: { type: 'string' },
  'cache-url': { type: 'string' },
  watch: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  'cloud-assembly': { type: 'string' },
  'state-dir': { type: 'string', default: '.lambda-infra' },
  event: { type: 'string' },
  method: { type: 'string', default: 'GET' },
  path: { type: 'string', default: '/' },
  body: { type: 'string', multiple: true },
  header: { type: 'string', multiple: true },
  'queue-arn': { type: 'string' },
  deployed: { type: 'boolean', default: false },
} as const;

type OptionName = keyof typeof options;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

/** A client for SSM as the SDK finds it (endpoint, region and credentials from the environment or flags). */
function clientFor(values: Values): SSMClient {
  const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  // No default region: an import that lands in a region nobody named is worse than an error.
  return new SSMClient({
    ...(values['endpoint-url'] ? { endpoint: values['endpoint-url'] } : {}),
    ...(region ? { region } : {}),
  });
}

/** A client for the endpoint this process started: it needs no real region or credentials. */
function localClient(url: string, region: string): SSMClient {
  return new SSMClient({
    endpoint: url,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

function requireEnv(values: Values): string {
  if (!values.env) throw new UsageError('--env is required');
  return values.env;
}

/** `--env` as one of the folder's environments: a typo must not import into, or compare with, an empty one. */
async function knownEnv(values: Values): Promise<string> {
  const env = requireEnv(values);
  const envs = await configEnvironments(values.dir);
  if (!envs.includes(env)) {
    throw new UsageError(
      `--env ${env}: ${values.dir} has no such environment${envs.length > 0 ? ` (it has ${envs.join(', ')})` : ''}`,
    );
  }
  return env;
}

/**
 * The services' config components to check the files against: `--components FILE`, else `{dir}/components.ts`
 * when there is one (a module whose default export maps each service to its `defineConfig` components).
 */
async function catalogOf(values: Values, io: Io): Promise<CatalogOption | undefined> {
  const file = resolve(values.components ?? join(values.dir, 'components.ts'));
  if (!values.components && !existsSync(file)) {
    io.err(`lambda-infra: no ${file}: the files are checked as JSON objects, not against their components`);
    return undefined;
  }
  const loaded = (await import(pathToFileURL(file).href)) as { default?: ConfigCatalog };
  if (!loaded.default || typeof loaded.default !== 'object') {
    throw new UsageError(`${file} must export default { [service]: [its defineConfig components] }`);
  }
  return { components: loaded.default, name: file };
}

async function runConfig(
  action: string | undefined,
  args: string[],
  values: Values,
  io: Io,
): Promise<number> {
  const scope = async () => ({
    env: action === 'export' ? requireEnv(values) : await knownEnv(values),
    ...(values.service ? { service: values.service } : {}),
  });
  const client = clientFor(values);
  try {
    switch (action) {
      case 'import': {
        if (values['prune-secure'] && !values.prune) throw new UsageError('--prune-secure goes with --prune');
        const result = await importConfig(client, values.dir, await scope(), {
          prune: values.prune,
          pruneSecure: values['prune-secure'],
          dryRun: values['dry-run'],
          catalog: await catalogOf(values, io),
        });
        const verb = values['dry-run'] ? 'would write' : 'wrote';
        for (const name of result.written) io.out(`${verb} ${name}`);
        for (const name of result.deleted)
          io.out(`${values['dry-run'] ? 'would delete' : 'deleted'} ${name}`);
        for (const name of result.kept)
          io.out(`kept ${name}: a SecureString no import wrote (--prune-secure deletes it too)`);
        io.out(
          `${result.written.length} written, ${result.unchanged.length} unchanged, ${result.deleted.length} deleted`,
        );
        return 0;
      }
      case 'export': {
        const files = await exportConfig(client, values.dir, await scope());
        for (const file of files) io.out(`wrote ${file}`);
        io.out(`${files.length} component(s) exported`);
        return 0;
      }
      case 'diff': {
        const differences = await diffConfig(client, values.dir, await scope(), await catalogOf(values, io));
        for (const d of differences) {
          const mark = d.kind === 'added' ? '+' : d.kind === 'removed' ? '-' : '~';
          const note =
            d.kind === 'added' ? ' (only in the folder)' : d.kind === 'removed' ? ' (only in SSM)' : '';
          io.out(`${mark} ${d.name}${note}`);
          for (const field of d.fields) io.out(`    ${field}`);
        }
        io.out(differences.length === 0 ? 'no differences' : `${differences.length} difference(s)`);
        // 3, not 1: a script tells "there are differences" from "the diff failed".
        return values['exit-code'] && differences.length > 0 ? 3 : 0;
      }
      case 'get': {
        const [env, service, component] = args;
        if (!env || !service || !component) throw new UsageError('config get takes ENV SERVICE COMPONENT');
        io.out(JSON.stringify(await getConfigValue(client, env, service, component), null, 2));
        return 0;
      }
      default:
        throw new UsageError(`unknown config command: ${action ?? '(none)'}`);
    }
  } finally {
    client.destroy();
  }
}

function positiveInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a whole number of at least 1, got ${raw}`);
  return n;
}

async function runDlq(action: string | undefined, values: Values, io: Io): Promise<number> {
  const queueUrl = values.queue;
  if (!queueUrl) throw new UsageError('--queue is required');
  const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const client = new SQSClient({
    ...(values['endpoint-url'] ? { endpoint: values['endpoint-url'] } : {}),
    ...(region ? { region } : {}),
  });
  try {
    switch (action) {
      case 'inspect': {
        const letters = await inspectDeadLetters({
          queueUrl,
          max: positiveInt('max', values.max) ?? 10,
          client,
        });
        for (const l of letters) {
          io.out(JSON.stringify({ messageId: l.messageId, reason: l.reason, body: l.body }));
        }
        io.out(`${letters.length} message(s) shown; they stay in the queue`);
        return 0;
      }
      case 'redrive': {
        if (values.native) {
          const task = await startNativeRedrive({
            from: queueUrl,
            client,
            maxPerSecond: positiveInt('rate', values.rate),
          });
          io.out(`started the move task ${task}`);
          return 0;
        }
        const [name, value] = values.attribute?.split('=') ?? [];
        if (values.attribute && (!name || value === undefined))
          throw new UsageError('--attribute takes NAME=VALUE');
        const olderThanMs = positiveInt('older-than-ms', values['older-than-ms']);
        const report = await redrive({
          from: queueUrl,
          client,
          ...(values.to ? { to: values.to } : {}),
          ...(positiveInt('max', values.max) ? { max: positiveInt('max', values.max) } : {}),
          ...(positiveInt('rate', values.rate) ? { ratePerSecond: positiveInt('rate', values.rate) } : {}),
          filter: {
            ...(values['error-type'] ? { errorType: values['error-type'] } : {}),
            ...(name && value !== undefined ? { attribute: { name, value } } : {}),
            ...(olderThanMs !== undefined ? { olderThanMs } : {}),
          },
          onProgress: (p) => io.err(`moved ${p.moved}, skipped ${p.skipped}, failed ${p.failed}`),
        });
        io.out(`${report.moved} moved, ${report.skipped} skipped, ${report.failed} failed`);
        return report.failed > 0 ? 1 : 0;
      }
      case 'purge': {
        if (!values.yes) {
          if (!process.stdin.isTTY)
            throw new UsageError(`purging ${queueUrl} deletes every message: confirm with --yes`);
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(`Delete every message of ${queueUrl}? Type "yes": `);
          rl.close();
          if (answer.trim() !== 'yes') {
            io.out('nothing deleted');
            return 1;
          }
        }
        await purgeDeadLetters({ queueUrl, client });
        io.out(`purged ${queueUrl}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown dlq command: ${action ?? '(none)'}`);
    }
  } finally {
    client.destroy();
  }
}

function statusLine(m: MigrationStatus): string {
  return `${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'.padEnd(32)}  ${m.name}`;
}

async function runDb(action: string | undefined, args: string[], values: Values, io: Io): Promise<number> {
  if (action !== 'migrate') throw new UsageError(`unknown db command: ${action ?? '(none)'}`);
  const [direction] = args;
  if (direction !== 'up' && direction !== 'down' && direction !== 'status') {
    throw new UsageError('db migrate takes up, down or status');
  }
  // DDL may outlast the statement timeout that suits a handler.
  const config = { ...dbConfigDefaults, poolMax: 1, statementTimeoutMs: 0 };
  const db = createDb(values.url ? dbOptionsFromUrl(values.url, config) : dbOptionsFromEnvironment(config));
  try {
    const migrations = new Migrations(db, migrationsFromFolder(values.folder));
    if (direction === 'status') {
      const status = await migrations.status();
      for (const m of status) io.out(statusLine(m));
      const pending = status.filter((m) => !m.executedAt).length;
      io.out(`${status.length - pending} applied, ${pending} pending`);
      return 0;
    }
    const report =
      direction === 'up' ? await migrations.up() : await migrations.down(values.to ? { to: values.to } : {});
    const verb = direction === 'up' ? 'applied' : 'undone';
    for (const name of report.applied) io.out(`${verb} ${name}`);
    io.out(report.applied.length === 0 ? `nothing ${verb}` : `${report.applied.length} ${verb}`);
    return 0;
  } finally {
    await db.close();
  }
}

async function runLocalSsm(values: Values, io: Io): Promise<number> {
  const port = portOption(values.port, 0);
  const throttle = values['throttle-tps'];
  let throttleTps: number | undefined;
  if (throttle !== undefined) {
    throttleTps = Number(throttle);
    if (throttle.trim() === '' || !Number.isFinite(throttleTps) || throttleTps <= 0)
      throw new UsageError(`--throttle-tps must be a positive number of requests a second, got ${throttle}`);
  }
  const endpoint = await startSsmEndpoint({ port, host: values.host });
  if (values.seed) {
    const client = localClient(endpoint.url, endpoint.store.region);
    try {
      const envs = (await readdir(values.seed, { withFileTypes: true })).filter((e) => e.isDirectory());
      for (const env of envs) {
        const result = await importConfig(client, values.seed, { env: env.name });
        io.out(`seeded ${result.written.length} component(s) of ${env.name} from ${values.seed}`);
      }
    } finally {
      client.destroy();
    }
  }
  // After the seed, which reads what is there through the same endpoint.
  if (throttleTps !== undefined) endpoint.setThrottle(throttleTps);
  io.out(
    `SSM endpoint listening on ${endpoint.url}${throttleTps === undefined ? '' : ` (reads throttled past ${throttleTps} a second)`}`,
  );
  io.out(`export AWS_ENDPOINT_URL_SSM=${endpoint.url}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await endpoint.close();
  return 0;
}

function portOption(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port must be 0-65535, got ${raw}`);
  return port;
}

function databaseKind(raw: string): 'embedded' | 'pglite' {
  if (raw !== 'embedded' && raw !== 'pglite')
    throw new UsageError(`--database must be embedded or pglite, got ${raw}`);
  return raw;
}

function checkCacheUrl(raw: string | undefined): void {
  if (raw !== undefined && raw !== 'off' && !/^rediss?:\/\/[^/]+/.test(raw))
    throw new UsageError(`--cache-url must be redis://HOST:PORT, rediss://HOST:PORT or off, got ${raw}`);
}

async function runDev(values: Values, io: Io): Promise<number> {
  checkCacheUrl(values['cache-url']);
  if (values['database-url'] && values.database)
    throw new UsageError('--database-url and --database name two databases: give one');
  const env = values.env ?? 'dev';
  const twin = await startTwin({
    env,
    port: portOption(values.port, 3000),
    host: values.host,
    stateDir: values['state-dir'],
    configDir: values.dir,
    watch: values.watch,
    verbose: values.verbose,
    ...(values['cloud-assembly'] ? { cloudAssembly: values['cloud-assembly'] } : {}),
    ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}),
    ...(values.database ? { database: databaseKind(values.database) } : {}),
    ...(values['cache-url'] ? { cacheUrl: values['cache-url'] } : {}),
    out: io.out,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('SIGHUP', resolve);
  });
  // A second Ctrl-C while stopping gives up waiting.
  process.once('SIGINT', () => process.exit(130));
  io.out('stopping ...');
  await twin.stop();
  io.out('stopped: nothing of the twin is left running');
  return 0;
}

async function readEvent(source: string | undefined): Promise<unknown> {
  if (source === undefined) return {};
  const text =
    source === '-'
      ? await new Promise<string>((resolve, reject) => {
          let data = '';
          process.stdin.setEncoding('utf8');
          process.stdin.on('data', (c: string) => (data += c));
          process.stdin.on('end', () => resolve(data));
          process.stdin.on('error', reject);
        })
      : await readFile(source, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--event ${source}: not JSON: ${(error as Error).message}`);
  }
}

async function runInvoke(name: string | undefined, values: Values, io: Io): Promise<number> {
  if (!name) throw new UsageError('invoke takes FUNCTION');
  const env = values.env ?? 'dev';
  const event = await readEvent(values.event);
  const twin = runningTwin(values['state-dir'], env);
  if (twin) {
    const response = await fetch(
      `${twin.lambda}/2015-03-31/functions/${encodeURIComponent(name)}/invocations`,
      {
        method: 'POST',
        body: JSON.stringify(event),
      },
    );
    const text = await response.text();
    if (response.status !== 200) {
      io.err(`lambda-infra: ${(JSON.parse(text) as { message?: string }).message ?? text}`);
      return 1;
    }
    if (response.headers.get('x-amz-function-error')) {
      io.err(text);
      return 1;
    }
    io.out(text);
    return 0;
  }
  // No twin running: the function alone, with the template's literal variables and the caller's environment
  // for the rest (AWS_ENDPOINT_URL_*, credentials, LAMBDA_INFRA_* bindings).
  const dir = values['cloud-assembly'] ?? (await ensureCloudAssembly(process.cwd(), env, io.err));
  const result = await invokeAlone(dir, name, event, (line) => io.err(line));
  if (!result.ok) {
    io.err(JSON.stringify(result.error));
    return 1;
  }
  io.out(JSON.stringify(result.value));
  return 0;
}

function keyValues(option: string, raw: string[] | string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const entry of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
    const at = entry.indexOf('=');
    if (at < 1) throw new UsageError(`--${option} takes NAME=VALUE, got ${entry}`);
    pairs[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return pairs;
}

function runEvent(kind: string | undefined, values: Values, io: Io): number {
  if (kind === 'http') {
    const [body] = values.body ?? [];
    const headers = keyValues('header', values.header);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
    const method = values.method.toUpperCase();
    if (!/^[A-Z]+$/.test(method))
      throw new UsageError(`--method must be an HTTP method, got ${values.method}`);
    if (!values.path.startsWith('/')) throw new UsageError(`--path must start with /, got ${values.path}`);
    io.out(
      JSON.stringify(
        httpApiEvent({
          method,
          url: values.path,
          headers,
          ...(body !== undefined ? { body } : {}),
          routeKey: `${method} ${values.path.split('?')[0]}`,
        }),
        null,
        2,
      ),
    );
    return 0;
  }
  if (kind === 'sqs') {
    const bodies = values.body ?? ['{}'];
    const attributes = keyValues('attribute', values.attribute);
    io.out(
      JSON.stringify(
        sqsEvent({ bodies, attributes, ...(values['queue-arn'] ? { queueArn: values['queue-arn'] } : {}) }),
        null,
        2,
      ),
    );
    return 0;
  }
  throw new UsageError(`event takes http or sqs, got ${kind ?? '(none)'}`);
}

async function runStatus(values: Values, io: Io): Promise<number> {
  const env = values.env ?? 'dev';
  let sections: StatusSection[];
  let heading: string;
  if (values.deployed) {
    const stackName = `lambda-infra-${env}`;
    heading = `${stackName} in AWS (${values.region ?? process.env.AWS_REGION ?? 'no region'})`;
    sections = await deployedStatus({
      stackName,
      env,
      configDir: values.dir,
      ...(values.region ? { region: values.region } : {}),
    });
  } else {
    const twin = runningTwin(values['state-dir'], env);
    if (!twin) {
      io.err(
        `lambda-infra: no twin of ${env} is running here (npm run dev starts one); --deployed shows the stack in AWS`,
      );
      return 1;
    }
    heading = `${twin.stackName}, the local twin (pid ${twin.pid}, since ${twin.startedAt})`;
    sections = await twinStatus(twin, values.dir);
  }
  for (const line of formatStatus(heading, sections)) io.out(line);
  return sections.some((s) => s.problem) ? 3 : 0;
}

/** Runs one command line; resolves with the exit code. */
export async function main(
  argv: string[],
  io: Io = { out: console.log, err: console.error },
): Promise<number> {
  try {
    const { values, positionals, tokens } = parseArgs({
      args: argv,
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    const [group, action, ...rest] = positionals;
    const command = commandOf(positionals);
    if (values.help) {
      io.out(command ? `Usage: lambda-infra ${describeCommand(command).trimStart()}` : USAGE);
      return 0;
    }
    if (!group) {
      io.out(USAGE);
      return 2;
    }
    // Each command takes its own options: one it does not know is a mistake, not something to ignore.
    if (command) {
      for (const token of tokens) {
        if (
          token.kind === 'option' &&
          token.name !== 'help' &&
          !command.options.includes(token.name as OptionName)
        ) {
          throw new UsageError(
            `${token.rawName} is not an option of ${command.name}; it takes ${command.synopsis}`,
          );
        }
      }
    }
    if (group === 'config') return await runConfig(action, rest, values, io);
    if (group === 'dlq') return await runDlq(action, values, io);
    if (group === 'db') return await runDb(action, rest, values, io);
    if (group === 'local' && action === 'ssm') return await runLocalSsm(values, io);
    if (group === 'dev') return await runDev(values, io);
    if (group === 'invoke') return await runInvoke(action, values, io);
    if (group === 'event') return runEvent(action, values, io);
    if (group === 'status') return await runStatus(values, io);
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`lambda-infra: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const infra = error instanceof InfraError ? error : classifyError(error, 'cli');
    io.err(`lambda-infra: ${infra.code ? `${infra.code}: ` : ''}${infra.message || infra.code || 'failed'}`);
    return 1;
  }
}
