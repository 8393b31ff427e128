// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENTS_DB_BREAKER } from '@lambda-infra/db-migrate/events';
import { eventsApiRoutes } from '@lambda-infra/events-api/routes';
import { retryConfigSchema, retrySurvivalSeconds } from '@lambda-infra/shared/mq';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAYER_DEPENDENCIES } from '../../infra/lib/bundling.ts';
import { createApp, type InfraApp } from '../../infra/lib/createApp.ts';
import { DEAD_LETTER_RETENTION } from '../../infra/lib/EventQueue.ts';
import { environments } from '../../infra/lib/settings.ts';

type Resources = Record<string, { Type: string; Properties: Record<string, any>; DeletionPolicy?: string }>;

const apps: Record<string, InfraApp> = {};
const templates: Record<string, Template> = {};

beforeAll(async () => {
  for (const env of ['dev', 'prod']) {
    apps[env] = await createApp({ env });
    templates[env] = Template.fromStack(apps[env].stack);
  }
}, 120_000);

const resources = (env: string, type: string): [string, Resources[string]][] =>
  Object.entries(templates[env]!.toJSON().Resources as Resources).filter(([, r]) => r.Type === type);
const logicalId = (ref: unknown): string | undefined => {
  const r = ref as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  return r?.Ref ?? r?.['Fn::GetAtt']?.[0];
};

describe.each(['dev', 'prod'])('the %s stack', (env) => {
  const settings = environments[env]!;

  it("gives every function's logs, the ones CDK adds by itself included, the environment's retention", () => {
    const groups = new Map(resources(env, 'AWS::Logs::LogGroup'));
    const functions = resources(env, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(5);
    for (const [id, fn] of functions) {
      const group = groups.get(logicalId(fn.Properties.LoggingConfig?.LogGroup) ?? '');
      expect(group?.Properties.RetentionInDays, id).toBe(settings.logRetention);
    }
    // The rotation function lives in a Serverless Application Repository app: its log group is made beforehand.
    for (const [id, app] of resources(env, 'AWS::Serverless::Application')) {
      const name = `/aws/lambda/${app.Properties.Parameters.functionName}`;
      const group = [...groups.values()].find((g) => g.Properties.LogGroupName === name);
      expect(group?.Properties.RetentionInDays, id).toBe(settings.logRetention);
    }
  });

  it('keeps a message that keeps failing for several minutes before it is dead-lettered', () => {
    // The worker's retry schedule is its SSM config component; the deliveries are the queue's redrive policy.
    const parameter = resources(env, 'AWS::SSM::Parameter').find(
      ([, p]) => p.Properties.Name === `/config/${env}/events-worker/retry`,
    );
    const retry = retryConfigSchema.parse(JSON.parse(parameter![1].Properties.Value));
    const [, queue] = resources(env, 'AWS::SQS::Queue').find(([, q]) => q.Properties.RedrivePolicy)!;

    const survival = retrySurvivalSeconds(retry, queue.Properties.RedrivePolicy.maxReceiveCount);

    expect(survival.min).toBeGreaterThanOrEqual(300);
    expect(survival.max).toBeLessThanOrEqual(43_200);
  });

  it('encrypts every queue, refuses plain HTTP to it, and gives every source queue a redrive policy', () => {
    const queues = resources(env, 'AWS::SQS::Queue');
    const deadLetterIds = new Set(
      queues.map(([, q]) => logicalId(q.Properties.RedrivePolicy?.deadLetterTargetArn)),
    );
    expect(queues.length).toBeGreaterThanOrEqual(2);
    for (const [id, q] of queues) {
      expect(q.Properties.SqsManagedSseEnabled, id).toBe(true);
      if (deadLetterIds.has(id)) {
        expect(q.Properties.MessageRetentionPeriod, id).toBe(DEAD_LETTER_RETENTION.toSeconds());
      } else {
        expect(q.Properties.RedrivePolicy, id).toMatchObject({
          maxReceiveCount: settings.queue.maxReceiveCount,
        });
        expect(deadLetterIds.has(logicalId(q.Properties.RedrivePolicy.deadLetterTargetArn))).toBe(true);
      }
    }
    const policies = resources(env, 'AWS::SQS::QueuePolicy');
    for (const [id] of queues) {
      const policy = policies.find(([, p]) =>
        p.Properties.Queues.some((ref: unknown) => logicalId(ref) === id),
      );
      expect(policy?.[1].Properties.PolicyDocument.Statement, id).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it("sets every consumed queue's visibility timeout to at least six times its consumer's timeout", () => {
    const mappings = resources(env, 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(1);
    const functions = Object.fromEntries(resources(env, 'AWS::Lambda::Function'));
    const queues = Object.fromEntries(resources(env, 'AWS::SQS::Queue'));
    for (const [, m] of mappings) {
      const fn = functions[logicalId(m.Properties.FunctionName) as string]!;
      const queue = queues[logicalId(m.Properties.EventSourceArn) as string]!;
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
      expect(m.Properties).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: settings.queue.batchSize,
        MaximumBatchingWindowInSeconds: settings.queue.maxBatchingWindow.toSeconds(),
        ScalingConfig: { MaximumConcurrency: settings.queue.maxConcurrency },
      });
    }
  });

  it('alarms on any message in every dead-letter queue, to the alarm topic', () => {
    const queues = resources(env, 'AWS::SQS::Queue');
    const deadLetterIds = queues
      .map(([, q]) => logicalId(q.Properties.RedrivePolicy?.deadLetterTargetArn))
      .filter((id): id is string => id !== undefined);
    const [[topicId]] = resources(env, 'AWS::SNS::Topic') as [[string, unknown]];
    const alarms = resources(env, 'AWS::CloudWatch::Alarm');
    for (const dlq of deadLetterIds) {
      const alarm = alarms.find(
        ([, a]) =>
          a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          logicalId(a.Properties.Dimensions?.[0]?.Value) === dlq,
      );
      expect(alarm, dlq).toBeDefined();
      expect(alarm?.[1].Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(alarm?.[1].Properties.AlarmActions.map(logicalId)).toEqual([topicId]);
    }
  });

  it('alarms on message age, error rate and p99 duration, and encrypts the alarm topic', () => {
    const alarms = resources(env, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    expect(alarms).toContainEqual(
      expect.objectContaining({
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: settings.alarms.maxMessageAge.toSeconds(),
      }),
    );
    const errorRates = alarms.filter((a) =>
      a.Metrics?.some((m: { Expression?: string }) => m.Expression?.includes('errors')),
    );
    expect(errorRates).toHaveLength(2);
    for (const a of errorRates) expect(a.Threshold).toBe(settings.alarms.maxErrorRatePercent);
    const p99 = alarms.filter((a) => a.MetricName === 'Duration' && a.ExtendedStatistic === 'p99');
    expect(p99.map((a) => a.Threshold)).toEqual([
      settings.functions.timeout.toMilliseconds() * settings.alarms.maxP99DurationShare,
      settings.functions.timeout.toMilliseconds() * settings.alarms.maxP99DurationShare,
    ]);
    const [[, topic]] = resources(env, 'AWS::SNS::Topic') as [[string, Resources[string]]];
    expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    templates[env]!.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it("shows the API's requests by status and latency, and alarms on the circuit the functions name", () => {
    const [[, dashboard]] = resources(env, 'AWS::CloudWatch::Dashboard') as [[string, Resources[string]]];
    const body = JSON.stringify(dashboard.Properties.DashboardBody).replaceAll('\\', '');
    for (const metric of ['"4xx"', '"5xx"', '"Count"', '"Latency"', '"IntegrationLatency"']) {
      expect(body).toContain(metric);
    }
    // The label makes the alarm a metric query: its metric is under Metrics[].MetricStat.
    const circuit = resources(env, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties.Metrics?.[0]?.MetricStat?.Metric)
      .filter((m) => m?.MetricName === 'BreakerState');
    expect(circuit).toHaveLength(2);
    for (const metric of circuit) {
      expect(metric.Dimensions).toContainEqual({ Name: 'breaker', Value: EVENTS_DB_BREAKER });
    }
  });

  it('runs the cache serverless on Valkey: TLS only, encrypted at rest with its own key, IAM users only', () => {
    const [[, cache]] = resources(env, 'AWS::ElastiCache::ServerlessCache') as [[string, Resources[string]]];
    expect(cache.Properties).toMatchObject({ Engine: 'valkey', UserGroupId: expect.anything() });
    expect(logicalId(cache.Properties.KmsKeyId)).toMatch(/^CacheKey/);
    const users = resources(env, 'AWS::ElastiCache::User').map(([, u]) => u.Properties);
    expect(users).toContainEqual(expect.objectContaining({ AuthenticationMode: { Type: 'iam' } }));
    // The default user every group must hold is switched off: no connection is served without IAM.
    expect(users.filter((u) => u.AuthenticationMode.Type !== 'iam')).toEqual([
      expect.objectContaining({ UserName: 'default', AccessString: 'off -@all' }),
    ]);
    const [[, group]] = resources(env, 'AWS::ElastiCache::UserGroup') as [[string, Resources[string]]];
    expect(group.Properties.UserIds).toHaveLength(2);
  });

  it('grants elasticache:Connect on the cache and its IAM user to the API and the worker only', () => {
    const connects = grantsOf(env, 'elasticache:Connect');
    expect(Object.keys(connects).sort()).toEqual(['events-api', 'events-worker']);
    for (const resourcesOf of Object.values(connects)) {
      expect(resourcesOf.map((r) => JSON.stringify(r))).toEqual([
        expect.stringContaining(':serverlesscache:lambda-infra-'),
        expect.stringContaining(':user:lambda-infra-'),
      ]);
    }
  });

  it('runs Aurora PostgreSQL Serverless v2 encrypted with IAM authentication, protected in prod', () => {
    const [[, cluster]] = resources(env, 'AWS::RDS::DBCluster') as [[string, Resources[string]]];
    expect(cluster.Properties).toMatchObject({
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      DeletionProtection: settings.db.deletionProtection,
      BackupRetentionPeriod: settings.db.backupRetention.toDays(),
      ServerlessV2ScalingConfiguration: {
        MinCapacity: settings.db.minCapacity,
        MaxCapacity: settings.db.maxCapacity,
      },
    });
    expect(cluster.DeletionPolicy).toBe(env === 'prod' ? 'Retain' : 'Delete');
    // Connections straight to the cluster (the migration function's) must use TLS too.
    const [[, parameters]] = resources(env, 'AWS::RDS::DBClusterParameterGroup') as [
      [string, Resources[string]],
    ];
    expect(logicalId(cluster.Properties.DBClusterParameterGroupName)).toBeDefined();
    expect(parameters.Properties.Parameters).toMatchObject({ 'rds.force_ssl': '1' });
  });

  it('puts an RDS Proxy in front that requires TLS and authenticates end to end with IAM', () => {
    const [[, proxy]] = resources(env, 'AWS::RDS::DBProxy') as [[string, Resources[string]]];
    expect(proxy.Properties).toMatchObject({
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      DefaultAuthScheme: 'IAM_AUTH',
      DBProxyName: `lambda-infra-${env}`,
    });
    const connects = grantsOf(env, 'rds-db:connect');
    expect(Object.keys(connects).sort()).toEqual(['events-api', 'events-worker']);
    for (const r of Object.values(connects)) expect(JSON.stringify(r)).toContain('/events_app');
  });

  it('keeps the network private: isolated subnets, no NAT or internet gateway, endpoints for SQS, SSM and Secrets Manager', () => {
    const template = templates[env]!;
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    expect(resources(env, 'AWS::EC2::Subnet')).toHaveLength(settings.network.maxAzs);
    for (const [, s] of resources(env, 'AWS::EC2::Subnet'))
      expect(s.Properties.MapPublicIpOnLaunch).toBe(false);
    const services = resources(env, 'AWS::EC2::VPCEndpoint').map(([, e]) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    for (const name of ['.sqs', '.ssm', '.secretsmanager'])
      expect(
        services.some((s) => s.includes(name)),
        name,
      ).toBe(true);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('opens each port only from one security group: no CIDR anywhere, and the cache and proxy only to the functions', () => {
    const groups = Object.fromEntries(resources(env, 'AWS::EC2::SecurityGroup'));
    for (const [id, g] of Object.entries(groups)) {
      expect(g.Properties.SecurityGroupIngress ?? [], id).toEqual([]);
      // The only inline egress CDK writes for a closed group is its placeholder that matches nothing.
      for (const rule of g.Properties.SecurityGroupEgress ?? [])
        expect(rule.CidrIp, id).toBe('255.255.255.255/32');
    }
    const ingress = resources(env, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => ({
      to: logicalId(r.Properties.GroupId),
      from: logicalId(r.Properties.SourceSecurityGroupId),
      port: r.Properties.FromPort,
      toPort: r.Properties.ToPort,
    }));
    for (const rule of ingress) {
      expect(rule.from, JSON.stringify(rule)).toBeDefined();
      expect(rule.port).toEqual(rule.toPort);
    }
    // Each function has a group of its own; the cache's and the proxy's groups open only to those of the
    // functions that bind them.
    const groupOf = Object.fromEntries(
      resources(env, 'AWS::Lambda::Function')
        .filter(([, f]) => f.Properties.Layers)
        .map(([, f]) => [
          f.Properties.Environment.Variables.LAMBDA_INFRA_SERVICE,
          logicalId(f.Properties.VpcConfig.SecurityGroupIds[0]),
        ]),
    );
    expect(new Set(Object.values(groupOf)).size).toBe(3);
    const [[, cache]] = resources(env, 'AWS::ElastiCache::ServerlessCache') as [[string, Resources[string]]];
    const [[, proxy]] = resources(env, 'AWS::RDS::DBProxy') as [[string, Resources[string]]];
    const into = (group: unknown) => ingress.filter((r) => r.to === logicalId(group));
    const from = (port: number, ...services: string[]) =>
      services.map((s) => expect.objectContaining({ port, from: groupOf[s] }));
    expect(into(cache.Properties.SecurityGroupIds[0])).toEqual(from(6379, 'events-worker', 'events-api'));
    expect(into(proxy.Properties.VpcSecurityGroupIds[0])).toEqual(from(5432, 'events-worker', 'events-api'));
  });

  it('runs every reference function on nodejs24.x, arm64, traced, with JSON logs kept, the layer and the bindings', () => {
    const [[layerId]] = resources(env, 'AWS::Lambda::LayerVersion') as [[string, unknown]];
    const logGroups = Object.fromEntries(resources(env, 'AWS::Logs::LogGroup'));
    const functions = resources(env, 'AWS::Lambda::Function').filter(([, f]) => f.Properties.Layers);
    expect(functions).toHaveLength(3);
    for (const [id, f] of functions) {
      expect(f.Properties, id).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON' },
        Handler: 'index.handler',
        VpcConfig: expect.anything(),
      });
      expect(f.Properties.Layers.map(logicalId)).toEqual([layerId]);
      const logGroup = logGroups[logicalId(f.Properties.LoggingConfig.LogGroup) as string];
      expect(logGroup?.Properties.RetentionInDays, id).toBe(settings.logRetention);
      expect(f.Properties.Environment.Variables, id).toMatchObject({
        LAMBDA_INFRA_ENV: env,
        POWERTOOLS_SERVICE_NAME: expect.any(String),
        POWERTOOLS_METRICS_NAMESPACE: 'lambda-infra',
        LAMBDA_INFRA_DB_TLS: 'require',
      });
    }
    const api = functions.find(
      ([, f]) => f.Properties.Environment.Variables.LAMBDA_INFRA_SERVICE === 'events-api',
    );
    expect(api?.[1].Properties.Environment.Variables).toMatchObject({
      LAMBDA_INFRA_CACHE_MODE: 'serverless',
      LAMBDA_INFRA_CACHE_AUTH: 'iam',
      LAMBDA_INFRA_DB_AUTH: 'iam',
      LAMBDA_INFRA_DB_USER: 'events_app',
      LAMBDA_INFRA_QUEUE_URL: expect.anything(),
    });
  });

  it('lets each function read only its own config path, and send or consume only on its own queue', () => {
    for (const [service, statements] of Object.entries(statementsByService(env))) {
      const ssm = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('ssm:')));
      expect(ssm.flatMap((s) => [s.Resource].flat()).map((r) => JSON.stringify(r))).toEqual([
        expect.stringContaining(`:parameter/config/${env}/${service}"`),
        expect.stringContaining(`:parameter/config/${env}/${service}/*"`),
      ]);
    }
    const sends = grantsOf(env, 'sqs:SendMessage');
    const receives = grantsOf(env, 'sqs:ReceiveMessage');
    expect(Object.keys(sends).sort()).toEqual(['events-api', 'events-worker']);
    expect(JSON.stringify(sends['events-api'])).toMatch(/EventsQueue/);
    expect(JSON.stringify(sends['events-worker'])).toMatch(/EventsDeadLetters/);
    expect(Object.keys(receives)).toEqual(['events-worker']);
  });

  it('has no * resource in any policy but the X-Ray actions, which take none', () => {
    const allowed = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);
    for (const [id, p] of resources(env, 'AWS::IAM::Policy')) {
      for (const s of p.Properties.PolicyDocument.Statement) {
        if ([s.Resource].flat().includes('*')) {
          expect(
            [s.Action].flat().every((a: string) => allowed.has(a)),
            `${id}: ${JSON.stringify(s.Action)}`,
          ).toBe(true);
        }
      }
    }
  });

  it("routes exactly the handler's routes on the API, each only to signed requests; logs access as JSON, and throttles", () => {
    const routes = resources(env, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(
      Object.values(eventsApiRoutes)
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    );
    for (const route of routes) expect(route.AuthorizationType, route.RouteKey).toBe('AWS_IAM');
    const [[, stage]] = resources(env, 'AWS::ApiGatewayV2::Stage') as [[string, Resources[string]]];
    expect(JSON.parse(stage.Properties.AccessLogSettings.Format)).toMatchObject({
      requestId: '$context.requestId',
    });
    expect(stage.Properties.DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 100 });
  });

  it("publishes the layer's version ARN in SSM at /lambda-infra/{env}/layer/arn and as an exported output", () => {
    const [[layerId]] = resources(env, 'AWS::Lambda::LayerVersion') as [[string, unknown]];
    const published = resources(env, 'AWS::SSM::Parameter').filter(
      ([, p]) => logicalId(p.Properties.Value) === layerId,
    );
    const outputs = Object.values(templates[env]!.toJSON().Outputs as Record<string, any>).filter(
      (o) => logicalId(o.Value) === layerId,
    );

    expect(published.map(([, p]) => [p.Properties.Name, p.Properties.Type])).toEqual([
      [`/lambda-infra/${env}/layer/arn`, 'String'],
    ]);
    expect(outputs.map((o) => o.Export?.Name)).toEqual([`lambda-infra-${env}-layer-arn`]);
  });

  it('runs the migrations on deploy, after the database', () => {
    const [[, trigger]] = resources(env, 'Custom::Trigger') as [[string, Resources[string]]];
    const migrate = resources(env, 'AWS::Lambda::Function').find(
      ([, f]) => f.Properties.Environment?.Variables?.LAMBDA_INFRA_SERVICE === 'db-migrate',
    );
    // The trigger invokes the function's current version, named after the function's own logical id.
    expect(JSON.stringify(trigger.Properties.HandlerArn)).toContain(
      migrate?.[0].replace(/[0-9A-F]{8}$/, 'CurrentVersion'),
    );
    expect(migrate?.[1].Properties.Environment.Variables).toMatchObject({
      LAMBDA_INFRA_DB_AUTH: 'secret',
      LAMBDA_INFRA_DB_APP_USER: 'events_app',
    });
  });
});

describe('the bundles', () => {
  it('the layer holds the shared bundle, its dependencies and the SDK clients it calls, bundled as ESM', () => {
    const { layer } = apps.dev!.bundles;
    expect(layer.packages).toEqual(
      expect.arrayContaining(['@lambda-infra/shared', 'kysely', 'pg', 'zod', '@redis/client']),
    );
    // Carried, not left to the runtime: tree-shaken ESM starts faster than the runtime's unbundled copy.
    expect(layer.packages).toEqual(
      expect.arrayContaining([
        '@aws-sdk/client-sqs',
        '@aws-sdk/client-ssm',
        '@aws-sdk/client-secrets-manager',
        '@aws-sdk/rds-signer',
      ]),
    );
  });

  it('the layer carries zod and kysely as packages of their own names, which the library imports and does not copy', () => {
    const modules = join(apps.dev!.bundles.layer.dir, 'nodejs/node_modules');
    const library = join(modules, '@lambda-infra/shared/dist');
    const code = readdirSync(library, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => readFileSync(join(library, f), 'utf8'))
      .join('\n');
    for (const name of LAYER_DEPENDENCIES) {
      const vendored = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
      const installed = JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8'));
      expect(vendored).toMatchObject({ name, version: installed.version, type: 'module' });
      expect(Object.keys(vendored.exports)).toContain('.');
      expect(code).toMatch(new RegExp(`from\\s*"${name}(/[a-z/]+)?"`));
    }
    // zod's own error text stands only in zod's package.
    expect(code).not.toContain('Invalid input: expected');
  });

  it('the functions carry only their own code: the shared layer, zod, kysely and the SDK stay out', () => {
    for (const [name, bundle] of Object.entries(apps.dev!.bundles.functions)) {
      expect(bundle.packages, name).toEqual([]);
      expect(bundle.bytes, name).toBeLessThan(10 * 1024);
    }
  });
});

/** Each reference function's policy statements, by service. */
function statementsByService(env: string): Record<string, any[]> {
  const functions = resources(env, 'AWS::Lambda::Function').filter(([, f]) => f.Properties.Layers);
  const roleOf = Object.fromEntries(
    functions.map(([, f]) => [
      logicalId(f.Properties.Role),
      f.Properties.Environment.Variables.LAMBDA_INFRA_SERVICE,
    ]),
  );
  const out: Record<string, any[]> = {};
  for (const [, p] of resources(env, 'AWS::IAM::Policy')) {
    for (const role of p.Properties.Roles ?? []) {
      const service = roleOf[logicalId(role) as string];
      if (service) out[service] = [...(out[service] ?? []), ...p.Properties.PolicyDocument.Statement];
    }
  }
  return out;
}

/** The resources each reference function is allowed `action` on, by service. */
function grantsOf(env: string, action: string): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [service, statements] of Object.entries(statementsByService(env))) {
    for (const s of statements) {
      if ([s.Action].flat().includes(action))
        out[service] = [...(out[service] ?? []), ...[s.Resource].flat()];
    }
  }
  return out;
}
