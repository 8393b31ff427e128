// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleLayer } from '../../infra/lib/bundling.ts';
import { EventQueue } from '../../infra/lib/EventQueue.ts';
import { Platform } from '../../infra/lib/Platform.ts';
import { type ServiceBindings, ServiceFunction } from '../../infra/lib/ServiceFunction.ts';

const ENTRY = fileURLToPath(new URL('../../functions/events-worker/src/handler.ts', import.meta.url));

// One function per binding, alone, and one with none: each must hold the grants of its bindings and no others.
let template: any;
let queueIds: { queue: string; dlq: string };
let secretId: string;

beforeAll(async () => {
  const app = new App();
  const stack = new Stack(app, 'Bindings');
  const platform = new Platform(stack, 'Platform', {
    environmentName: 'test',
    layerBundle: await bundleLayer(),
  });
  const queue = new EventQueue(stack, 'Orders');
  const ordered = new EventQueue(stack, 'Ordered', { fifo: true, maxReceiveCount: 3 });
  const bindings: Record<string, ServiceBindings> = {
    none: {},
    cache: { cache: true },
    database: { database: true },
    owner: { databaseOwner: true },
    publisher: { publishTo: queue },
    consumer: { consume: { queue } },
    'fifo-consumer': { consume: { queue: ordered, batchSize: 5 } },
  };
  for (const [service, b] of Object.entries(bindings)) {
    new ServiceFunction(stack, service, { platform, service, entry: ENTRY, bindings: b });
  }
  for (const tracing of ['xray', 'off'] as const) {
    new ServiceFunction(stack, `traced-${tracing}`, {
      platform,
      service: `traced-${tracing}`,
      entry: ENTRY,
      tracing,
    });
  }
  template = Template.fromStack(stack).toJSON();
  queueIds = {
    queue: stack.getLogicalId(queue.queue.node.defaultChild as any),
    dlq: stack.getLogicalId(queue.deadLetterQueue.node.defaultChild as any),
  };
  secretId = stack.getLogicalId(platform.database!.cluster.secret!.node.defaultChild as any);
}, 120_000);

/** What a policy's resource names, in words: the test's own reading of the template, independent of the code. */
function label(resource: unknown, service: string): string {
  const text = JSON.stringify(resource);
  if (resource === '*') return '*';
  if (text.includes(`parameter/config/test/${service}/*`)) return 'own config/*';
  if (text.includes(`parameter/config/test/${service}"`)) return 'own config';
  if (text.includes(':key/*')) return 'kms via ssm';
  if (text.includes(`"${queueIds.dlq}"`)) return 'dead-letter queue';
  if (text.includes(`"${queueIds.queue}"`)) return 'queue';
  if (text.includes(':serverlesscache:')) return 'cache';
  if (text.includes(':user:')) return 'cache user';
  if (text.includes(':dbuser:') && text.includes('/app_user')) return 'proxy as app user';
  if (text.includes(`"${secretId}"`)) return 'database secret';
  return text;
}

function grantsOf(service: string): string[] {
  const fn = Object.values(template.Resources as Record<string, any>).find(
    (r) =>
      r.Type === 'AWS::Lambda::Function' &&
      r.Properties.Environment?.Variables?.LAMBDA_INFRA_SERVICE === service,
  );
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  const grants = new Set<string>();
  for (const r of Object.values(template.Resources as Record<string, any>)) {
    if (r.Type !== 'AWS::IAM::Policy' || !r.Properties.Roles.some((x: any) => x.Ref === role)) continue;
    for (const s of r.Properties.PolicyDocument.Statement) {
      expect(s.Effect).toBe('Allow');
      for (const action of [s.Action].flat()) {
        for (const resource of [s.Resource].flat()) grants.add(`${action} on ${label(resource, service)}`);
      }
    }
  }
  return [...grants].sort();
}

const BASE = [
  'kms:Decrypt on kms via ssm',
  'ssm:GetParameter on own config',
  'ssm:GetParameter on own config/*',
  'ssm:GetParameters on own config',
  'ssm:GetParameters on own config/*',
  'ssm:GetParametersByPath on own config',
  'ssm:GetParametersByPath on own config/*',
  'xray:PutTelemetryRecords on *',
  'xray:PutTraceSegments on *',
];

describe('ServiceFunction: each function holds exactly the grants its bindings ask for', () => {
  it.each([
    ['none', []],
    ['cache', ['elasticache:Connect on cache', 'elasticache:Connect on cache user']],
    ['database', ['rds-db:connect on proxy as app user']],
    [
      'owner',
      [
        'secretsmanager:DescribeSecret on database secret',
        'secretsmanager:GetSecretValue on database secret',
      ],
    ],
    [
      'publisher',
      [
        'sqs:GetQueueAttributes on dead-letter queue',
        'sqs:GetQueueAttributes on queue',
        'sqs:SendMessage on queue',
      ],
    ],
    [
      'consumer',
      [
        'sqs:ChangeMessageVisibility on queue',
        'sqs:DeleteMessage on queue',
        'sqs:GetQueueAttributes on queue',
        'sqs:GetQueueUrl on queue',
        'sqs:ReceiveMessage on queue',
        'sqs:SendMessage on dead-letter queue',
      ],
    ],
  ])('%s', (service, own) => {
    expect(grantsOf(service)).toEqual([...BASE, ...own].sort());
  });

  it('gives a function that does not trace no X-Ray grant', () => {
    expect(grantsOf('traced-off')).toEqual(BASE.filter((g) => !g.startsWith('xray:')));
    expect(grantsOf('traced-xray')).toEqual(BASE);
  });

  it('refuses a tracing back end it does not know, naming the choices', () => {
    const stack = new Stack(new App(), 'Bad');
    const platform = Platform.fromLayerParameter(stack, 'Platform', 'test');
    expect(
      () =>
        new ServiceFunction(stack, 'f', { platform, service: 'f', entry: ENTRY, tracing: 'jaeger' as 'off' }),
    ).toThrow('f: tracing is "jaeger"; it must be otel, xray or off');
  });

  it('consumes a FIFO queue, whose dead-letter queue is FIFO too, with no batching window', () => {
    const resources = Object.entries(template.Resources as Record<string, any>);
    const fifoQueues = resources.filter(([, r]) => r.Type === 'AWS::SQS::Queue' && r.Properties.FifoQueue);
    const mapping = resources.find(
      ([, r]) =>
        r.Type === 'AWS::Lambda::EventSourceMapping' &&
        JSON.stringify(r.Properties.EventSourceArn).includes(
          fifoQueues.find(([, q]) => q.Properties.RedrivePolicy)![0],
        ),
    )![1];

    expect(fifoQueues).toHaveLength(2);
    for (const [, q] of fifoQueues) expect(q.Properties.ContentBasedDeduplication).toBe(true);
    expect(mapping.Properties).toMatchObject({
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(mapping.Properties.MaximumBatchingWindowInSeconds).toBeUndefined();
  });

  it('puts a function in the VPC, in a group of its own, only when a binding needs the network', () => {
    const functions = Object.values(template.Resources as Record<string, any>).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.LAMBDA_INFRA_SERVICE,
    );
    const inVpc = functions
      .filter((f) => f.Properties.VpcConfig)
      .map((f) => f.Properties.Environment.Variables.LAMBDA_INFRA_SERVICE)
      .sort();
    const groups = functions
      .flatMap((f) => f.Properties.VpcConfig?.SecurityGroupIds ?? [])
      .map((g: any) => JSON.stringify(g));

    expect(inVpc).toEqual(['cache', 'database', 'owner']);
    expect(new Set(groups).size).toBe(3);
  });

  it('sets the variables of its bindings and no others', () => {
    const variables = (service: string) =>
      Object.keys(
        Object.values(template.Resources as Record<string, any>).find(
          (r) => r.Properties?.Environment?.Variables?.LAMBDA_INFRA_SERVICE === service,
        ).Properties.Environment.Variables,
      ).filter(
        (v) =>
          v.startsWith('LAMBDA_INFRA_') &&
          !['LAMBDA_INFRA_ENV', 'LAMBDA_INFRA_SERVICE', 'LAMBDA_INFRA_TRACING'].includes(v),
      );

    expect(variables('none')).toEqual([]);
    // Every function is traced actively through OpenTelemetry unless told otherwise, and the library is told which
    // back end traces.
    const tracingOf = (f: any) => ({
      library: f.Properties.Environment.Variables.LAMBDA_INFRA_TRACING,
      lambda: f.Properties.TracingConfig,
      captureResponse: f.Properties.Environment.Variables.POWERTOOLS_TRACER_CAPTURE_RESPONSE,
    });
    for (const f of Object.values(template.Resources as Record<string, any>)) {
      const service = f.Properties?.Environment?.Variables?.LAMBDA_INFRA_SERVICE;
      if (!service || service.startsWith('traced-')) continue;
      expect(tracingOf(f)).toEqual({ library: 'otel', lambda: { Mode: 'Active' } });
    }
    const fn = (service: string) =>
      Object.values(template.Resources as Record<string, any>).find(
        (r) => r.Properties?.Environment?.Variables?.LAMBDA_INFRA_SERVICE === service,
      );
    expect(tracingOf(fn('traced-xray'))).toEqual({
      library: 'xray',
      lambda: { Mode: 'Active' },
      captureResponse: 'false',
    });
    // No TracingConfig: Lambda's default, which traces only a request that arrives sampled.
    expect(tracingOf(fn('traced-off'))).toEqual({ library: 'off', lambda: undefined });
    expect(variables('cache').sort()).toEqual([
      'LAMBDA_INFRA_CACHE_AUTH',
      'LAMBDA_INFRA_CACHE_MODE',
      'LAMBDA_INFRA_CACHE_NAME',
      'LAMBDA_INFRA_CACHE_URL',
      'LAMBDA_INFRA_CACHE_USER',
    ]);
    expect(variables('publisher').sort()).toEqual(['LAMBDA_INFRA_DLQ_URL', 'LAMBDA_INFRA_QUEUE_URL']);
    expect(variables('consumer')).toEqual(['LAMBDA_INFRA_DLQ_URL']);
    expect(variables('database')).toContain('LAMBDA_INFRA_DB_HOST');
    expect(variables('owner')).toContain('LAMBDA_INFRA_DB_SECRET_ARN');
  });
});

describe('Platform: CloudWatch Transaction Search, where the OTLP spans go', () => {
  const synth = async (transactionSearch: boolean | { indexingPercentage: number } | undefined) => {
    const stack = new Stack(new App(), 'Search', { env: { account: '123456789012', region: 'eu-west-1' } });
    new Platform(stack, 'Platform', {
      environmentName: 'ts',
      layerBundle: await bundleLayer(),
      cache: false,
      database: false,
      ...(transactionSearch === undefined ? {} : { transactionSearch }),
    });
    return Template.fromStack(stack).toJSON() as any;
  };
  const ofType = (t: any, type: string) =>
    Object.entries(t.Resources as Record<string, any>).filter(([, r]) => r.Type === type);

  it('is off unless asked for: it is one setting for the whole account', async () => {
    const t = await synth(undefined);
    expect(ofType(t, 'AWS::XRay::TransactionSearchConfig')).toEqual([]);
    expect(ofType(t, 'AWS::Logs::ResourcePolicy')).toEqual([]);
  });

  it('lets X-Ray write the span log groups of this account alone, then turns search on', async () => {
    const t = await synth(true);
    const [[policyId, policy]] = ofType(t, 'AWS::Logs::ResourcePolicy') as [[string, any]];
    const [[, search]] = ofType(t, 'AWS::XRay::TransactionSearchConfig') as [[string, any]];
    // The document is one string in CloudFormation, joined around the partition's reference.
    const document = policy.Properties.PolicyDocument;
    const joined =
      typeof document === 'string'
        ? document
        : document['Fn::Join'][1]
            .map((part: any) =>
              typeof part === 'string' ? part : part.Ref === 'AWS::Partition' ? 'aws' : '?',
            )
            .join(document['Fn::Join'][0]);
    const [statement] = JSON.parse(joined).Statement;

    expect(search.Properties).toEqual({ IndexingPercentage: 1 });
    expect(search.DependsOn).toEqual([policyId]);
    expect(statement).toEqual({
      Sid: 'XRayWritesSpans',
      Effect: 'Allow',
      Principal: { Service: 'xray.amazonaws.com' },
      Action: 'logs:PutLogEvents',
      Resource: [
        'arn:aws:logs:eu-west-1:123456789012:log-group:aws/spans:*',
        'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/application-signals/data:*',
      ],
      Condition: {
        ArnLike: { 'aws:SourceArn': 'arn:aws:xray:eu-west-1:123456789012:*' },
        StringEquals: { 'aws:SourceAccount': '123456789012' },
      },
    });
    expect((await synth({ indexingPercentage: 10 })).Resources).toSatisfy((r: Record<string, any>) =>
      Object.values(r).some((x) => x.Properties?.IndexingPercentage === 10),
    );
  });

  it.each([-1, 101, Number.NaN])('refuses an indexing percentage of %s', async (indexingPercentage) => {
    await expect(synth({ indexingPercentage })).rejects.toThrow(
      `transactionSearch.indexingPercentage is ${indexingPercentage}; it must be 0 to 100`,
    );
  });
});
