// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the local twin runs, read from a synthesized cloud assembly (`cdk.out/{env}`) and from nothing else: the
 * template's parameters, queues, functions, HTTP API routes, event source mappings and triggers. Values that
 * refer to other resources stay as CloudFormation wrote them and are resolved once the local endpoints exist.
 */
export interface TwinTemplate {
  stackName: string;
  /** The cloud assembly folder the template and its assets are in. */
  dir: string;
  parameters: { logicalId: string; name: unknown; type: string; value: unknown }[];
  queues: TwinQueue[];
  functions: TwinFunction[];
  routes: TwinRoute[];
  mappings: TwinMapping[];
  /** Functions the stack invokes on deploy (CDK triggers), in template order. */
  triggers: { functionId: string; event: unknown }[];
  /** Resources of types the twin stands in for with its own servers (cache, database), by type. */
  standIns: Record<string, string[]>;
  /** Functions of the template the twin does not run, with why. */
  skipped: { logicalId: string; reason: string }[];
}

export interface TwinQueue {
  logicalId: string;
  /** The queue's name: its `QueueName`, else `{stack}-{logicalId}` (with `.fifo` for a FIFO queue). */
  name: string;
  fifo: boolean;
  /** SQS attributes as CreateQueue takes them; the redrive policy is set apart once its target exists. */
  attributes: Record<string, string>;
  redrive?: { deadLetterTargetId: string; maxReceiveCount: number };
}

export interface TwinFunction {
  logicalId: string;
  /** The name a person uses: the function's `FunctionName`, else its construct's path in the stack. */
  name: string;
  /** `index.handler`: the file `index.mjs` (or `.js`, `.cjs`) and its export `handler`. */
  handler: string;
  /** The code asset's folder, and each layer's, in the cloud assembly. */
  codeDir: string;
  layerDirs: string[];
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, unknown>;
  reservedConcurrency?: number;
}

export interface TwinRoute {
  method: string;
  /** `/events/{id}`, `/files/{proxy+}`, or `$default`. */
  path: string;
  routeKey: string;
  functionId: string;
  authorization: string;
  payloadFormatVersion: string;
}

export interface TwinMapping {
  logicalId: string;
  functionId: string;
  queueId: string;
  batchSize: number;
  batchingWindowSeconds: number;
  maxConcurrency?: number;
  reportBatchItemFailures: boolean;
  enabled: boolean;
}

/** A reference the twin could not resolve, naming the resource and where the value is used. */
export class UnresolvedReference extends Error {}

const STAND_INS = [
  'AWS::ElastiCache::ServerlessCache',
  'AWS::ElastiCache::ReplicationGroup',
  'AWS::ElastiCache::CacheCluster',
  'AWS::RDS::DBCluster',
  'AWS::RDS::DBInstance',
  'AWS::RDS::DBProxy',
  'AWS::SecretsManager::Secret',
  // Its code is laid out beside each function that uses it; its ARN is published in a parameter.
  'AWS::Lambda::LayerVersion',
];

function refId(value: any): string | undefined {
  if (value && typeof value === 'object') {
    if (typeof value.Ref === 'string') return value.Ref;
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  }
  return undefined;
}

/** The one stack template of a cloud assembly, with its stack name. */
export function readCloudAssembly(dir: string): { stackName: string; template: any } {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const stacks = Object.entries<any>(manifest.artifacts ?? {}).filter(
    ([, a]) => a.type === 'aws:cloudformation:stack',
  );
  if (stacks.length !== 1) {
    const names = stacks.map(([n]) => n).join(', ') || 'none';
    throw new Error(`${dir}: the twin runs one stack, the cloud assembly has ${names}`);
  }
  const [stackName, artifact] = stacks[0]!;
  const file = artifact.properties?.templateFile ?? `${stackName}.template.json`;
  return { stackName, template: JSON.parse(readFileSync(join(dir, file), 'utf8')) };
}

function serviceNameOf(variables: Record<string, unknown> | undefined): string | undefined {
  const name = variables?.POWERTOOLS_SERVICE_NAME ?? variables?.LAMBDA_INFRA_SERVICE;
  return typeof name === 'string' ? name : undefined;
}

function readAssetManifest(dir: string, stackName: string): Record<string, string> {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, `${stackName}.assets.json`), 'utf8'));
    return Object.fromEntries(
      Object.entries<any>(manifest.files ?? {}).map(([hash, file]) => [hash, file.source?.path as string]),
    );
  } catch {
    return {};
  }
}

/** The twin's view of a synthesized stack. */
export function readTwinTemplate(dir: string): TwinTemplate {
  const { stackName, template } = readCloudAssembly(dir);
  const resources: Record<string, any> = template.Resources ?? {};
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  // The CDK CLI notes each asset's folder on its resource; an app synthesized without the CLI does not, and
  // then the asset manifest maps the S3 key's hash to the folder.
  const assets = readAssetManifest(dir, stackName);
  const assetDir = (id: string) => {
    const path = resources[id]?.Metadata?.['aws:asset:path'];
    if (typeof path === 'string') return join(dir, path);
    const p = resources[id]?.Properties ?? {};
    const key = (p.Code ?? p.Content)?.S3Key;
    const source = typeof key === 'string' ? assets[key.replace(/\.zip$/, '')] : undefined;
    return source ? join(dir, source) : undefined;
  };

  const parameters = ofType('AWS::SSM::Parameter').map(([logicalId, r]) => ({
    logicalId,
    name: r.Properties?.Name,
    type: r.Properties?.Type ?? 'String',
    value: r.Properties?.Value,
  }));

  const queues: TwinQueue[] = ofType('AWS::SQS::Queue').map(([logicalId, r]) => {
    const p = r.Properties ?? {};
    const fifo = p.FifoQueue === true || p.FifoQueue === 'true';
    const attributes: Record<string, string> = {};
    for (const key of [
      'VisibilityTimeout',
      'MessageRetentionPeriod',
      'DelaySeconds',
      'MaximumMessageSize',
      'ReceiveMessageWaitTimeSeconds',
      'ContentBasedDeduplication',
      'DeduplicationScope',
      'FifoThroughputLimit',
    ]) {
      if (p[key] !== undefined) attributes[key] = String(p[key]);
    }
    if (fifo) attributes.FifoQueue = 'true';
    const name =
      typeof p.QueueName === 'string' ? p.QueueName : `${stackName}-${logicalId}${fifo ? '.fifo' : ''}`;
    const target = refId(p.RedrivePolicy?.deadLetterTargetArn);
    return {
      logicalId,
      name,
      fifo,
      attributes,
      ...(target
        ? {
            redrive: { deadLetterTargetId: target, maxReceiveCount: Number(p.RedrivePolicy.maxReceiveCount) },
          }
        : {}),
    };
  });

  // The function a value names: a function, or one of its versions or aliases.
  const functionOf = (value: any): string | undefined => {
    const id = refId(value);
    if (!id) return undefined;
    const r = resources[id];
    if (r?.Type === 'AWS::Lambda::Function') return id;
    if (r?.Type === 'AWS::Lambda::Version' || r?.Type === 'AWS::Lambda::Alias')
      return functionOf(r.Properties?.FunctionName);
    return undefined;
  };

  const routes: TwinRoute[] = [];
  for (const [, r] of ofType('AWS::ApiGatewayV2::Route')) {
    const routeKey: string = r.Properties?.RouteKey;
    const target = r.Properties?.Target;
    const integrationId = Array.isArray(target?.['Fn::Join']?.[1])
      ? target['Fn::Join'][1].map(refId).find(Boolean)
      : undefined;
    const integration = integrationId ? resources[integrationId] : undefined;
    const functionId = functionOf(integration?.Properties?.IntegrationUri);
    if (!functionId) continue;
    const [method, path] = routeKey === '$default' ? ['ANY', '$default'] : routeKey.split(' ');
    routes.push({
      method: method!,
      path: path!,
      routeKey,
      functionId,
      authorization: r.Properties?.AuthorizationType ?? 'NONE',
      payloadFormatVersion: integration?.Properties?.PayloadFormatVersion ?? '2.0',
    });
  }

  const mappings: TwinMapping[] = [];
  for (const [logicalId, r] of ofType('AWS::Lambda::EventSourceMapping')) {
    const p = r.Properties ?? {};
    const queueId = refId(p.EventSourceArn);
    const functionId = functionOf(p.FunctionName);
    if (!queueId || resources[queueId]?.Type !== 'AWS::SQS::Queue' || !functionId) continue;
    mappings.push({
      logicalId,
      functionId,
      queueId,
      batchSize: Number(p.BatchSize ?? 10),
      batchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
      ...(p.ScalingConfig?.MaximumConcurrency
        ? { maxConcurrency: Number(p.ScalingConfig.MaximumConcurrency) }
        : {}),
      reportBatchItemFailures: (p.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
      enabled: p.Enabled !== false && p.Enabled !== 'false',
    });
  }

  const triggers = ofType('Custom::Trigger')
    .map(([, r]) => ({ functionId: functionOf(r.Properties?.HandlerArn), event: {} }))
    .filter((t): t is { functionId: string; event: object } => t.functionId !== undefined);

  // The functions that serve a route, a mapping or a trigger; the others (CDK's custom resource providers) only
  // act on deploy.
  const used = new Set([
    ...routes.map((r) => r.functionId),
    ...mappings.map((m) => m.functionId),
    ...triggers.map((t) => t.functionId),
  ]);
  const functions: TwinFunction[] = [];
  const skipped: TwinTemplate['skipped'] = [];
  for (const [logicalId, r] of ofType('AWS::Lambda::Function')) {
    const p = r.Properties ?? {};
    const codeDir = assetDir(logicalId);
    if (!used.has(logicalId)) {
      skipped.push({ logicalId, reason: 'no route, queue or trigger invokes it (a deploy-time provider)' });
      continue;
    }
    if (!codeDir || !String(p.Runtime ?? '').startsWith('nodejs')) {
      skipped.push({ logicalId, reason: `not a Node.js function with its code in ${dir}` });
      continue;
    }
    const path: string = r.Metadata?.['aws:cdk:path'] ?? logicalId;
    const segments = path.split('/').slice(1);
    while (['Resource', 'Function', 'Default'].includes(segments.at(-1) ?? '')) segments.pop();
    const layerDirs = (p.Layers ?? []).map((layer: any) => {
      const id = refId(layer);
      const layerDir = id ? assetDir(id) : undefined;
      if (!layerDir) throw new UnresolvedReference(`${logicalId}: a layer not built in ${dir}`);
      return layerDir;
    });
    functions.push({
      logicalId,
      // Without the CLI's path metadata, the service name the function logs under.
      name:
        typeof p.FunctionName === 'string'
          ? p.FunctionName
          : segments.join('/') || serviceNameOf(p.Environment?.Variables) || logicalId,
      handler: p.Handler ?? 'index.handler',
      codeDir,
      layerDirs,
      timeoutSeconds: Number(p.Timeout ?? 3),
      memoryMb: Number(p.MemorySize ?? 128),
      environment: p.Environment?.Variables ?? {},
      ...(p.ReservedConcurrentExecutions !== undefined
        ? { reservedConcurrency: Number(p.ReservedConcurrentExecutions) }
        : {}),
    });
  }
  const standIns: Record<string, string[]> = {};
  for (const type of STAND_INS) {
    const ids = ofType(type).map(([id]) => id);
    if (ids.length > 0) standIns[type] = ids;
  }
  return { stackName, dir, parameters, queues, functions, routes, mappings, triggers, standIns, skipped };
}

/** What the local endpoints stand in for: each resource's `Ref` and attributes. */
export interface ResolveContext {
  region: string;
  accountId: string;
  stackName: string;
  refs: Record<string, string>;
  attributes: Record<string, Record<string, string>>;
}

/**
 * The value of a template expression: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select` and the pseudo
 * parameters. A reference the context has no value for throws an `UnresolvedReference` naming it.
 */
export function resolveValue(value: any, context: ResolveContext): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (!value || typeof value !== 'object')
    throw new UnresolvedReference(`a value of ${JSON.stringify(value)}`);
  const pseudo: Record<string, string> = {
    'AWS::Region': context.region,
    'AWS::AccountId': context.accountId,
    'AWS::Partition': 'aws',
    'AWS::StackName': context.stackName,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (typeof value.Ref === 'string') {
    const resolved = pseudo[value.Ref] ?? context.refs[value.Ref];
    if (resolved === undefined) throw new UnresolvedReference(`Ref ${value.Ref}`);
    return resolved;
  }
  if (Array.isArray(value['Fn::GetAtt'])) {
    const [id, attribute] = value['Fn::GetAtt'] as [string, string];
    const resolved = context.attributes[id]?.[attribute];
    if (resolved === undefined) throw new UnresolvedReference(`Fn::GetAtt ${id}.${attribute}`);
    return resolved;
  }
  if (Array.isArray(value['Fn::Join'])) {
    const [separator, parts] = value['Fn::Join'] as [string, any[]];
    return parts.map((part) => resolveValue(part, context)).join(separator);
  }
  if (Array.isArray(value['Fn::Select'])) {
    const [index, list] = value['Fn::Select'] as [number | string, any];
    const items = Array.isArray(list) ? list : resolveValue(list, context).split(',');
    return resolveValue(items[Number(index)], context);
  }
  if (value['Fn::Sub'] !== undefined) {
    const [text, variables = {}] = Array.isArray(value['Fn::Sub']) ? value['Fn::Sub'] : [value['Fn::Sub']];
    return (text as string).replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (variables[name] !== undefined) return resolveValue(variables[name], context);
      const [id, attribute] = name.split(/\.(.*)/s);
      return attribute
        ? resolveValue({ 'Fn::GetAtt': [id, attribute] }, context)
        : resolveValue({ Ref: id }, context);
    });
  }
  throw new UnresolvedReference(`an expression ${Object.keys(value).join(', ')}`);
}

/** Newest modification time of any file under these folders (skipping node_modules), in ms since the epoch. */
export function newestMtime(dirs: string[]): number {
  let newest = 0;
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        try {
          newest = Math.max(newest, statSync(path).mtimeMs);
        } catch {
          // A file removed while walking.
        }
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return newest;
}
