import { EVENTS_DB_BREAKER } from '@lambda-infra/db-migrate/events';
import { eventsApiRoutes } from '@lambda-infra/events-api/routes';
import type { BindingName, ConfigEntry } from '@lambda-infra/shared/config';
import { bindings } from '@lambda-infra/shared/config';
import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Trigger } from 'aws-cdk-lib/triggers';
import type { Construct, IConstruct } from 'constructs';
import type { Bundle } from './bundling.ts';
import { Cache } from './Cache.ts';
import { ConfigParameters } from './ConfigParameters.ts';
import { Database } from './Database.ts';
import { EventQueue } from './EventQueue.ts';
import { HelperLogRetention } from './HelperLogRetention.ts';
import { Monitoring } from './Monitoring.ts';
import { Network } from './Network.ts';
import { ServiceFunction } from './ServiceFunction.ts';
import { SharedLayer } from './SharedLayer.ts';
import type { EnvironmentSettings } from './settings.ts';

/** The reference functions the stack deploys, one bundle each. */
export type FunctionName = 'events-api' | 'events-worker' | 'db-migrate';

export interface LambdaInfraStackProps extends StackProps {
  /** dev, prod, …: the `{env}` of every config path and resource name. */
  environmentName: string;
  settings: EnvironmentSettings;
  config: ConfigEntry[];
  bundles: { layer: Bundle; functions: Record<FunctionName, Bundle> };
}

/** Environment variables from the bindings' one definition, which the library reads back. */
function bindingEnvironment(values: Partial<Record<BindingName, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [bindings[name as BindingName].variable, value as string]),
  );
}

/**
 * Everything the shared layer and the reference pipeline need in one environment: network, config, queue,
 * cache, database, layer, functions, HTTP API, dashboard and alarms.
 */
export class LambdaInfraStack extends Stack {
  readonly network: Network;
  readonly queue: EventQueue;
  readonly cache: Cache;
  readonly database: Database;
  readonly sharedLayer: SharedLayer;
  readonly functions: Record<FunctionName, ServiceFunction>;
  readonly api: HttpApi;
  readonly monitoring: Monitoring;
  readonly environmentName: string;

  constructor(scope: Construct, id: string, props: LambdaInfraStackProps) {
    super(scope, id, props);
    const { environmentName: env, settings } = props;
    this.environmentName = env;

    new ConfigParameters(this, 'Config', { entries: props.config });
    this.network = new Network(this, 'Network', {
      maxAzs: settings.network.maxAzs,
      logRetention: settings.logRetention,
    });
    const { vpc } = this.network;

    this.cache = new Cache(this, 'Cache', {
      vpc,
      securityGroup: this.network.cache,
      name: `lambda-infra-${env}`,
      ...settings.cache,
      removalPolicy: settings.removalPolicy,
    });
    this.database = new Database(this, 'Database', {
      vpc,
      databaseSecurityGroup: this.network.database,
      proxySecurityGroup: this.network.proxy,
      rotationSecurityGroup: this.network.rotation,
      databaseName: 'events',
      proxyName: `lambda-infra-${env}`,
      appUser: 'events_app',
      ...settings.db,
      removalPolicy: settings.removalPolicy,
    });
    this.sharedLayer = new SharedLayer(this, 'SharedLayer', {
      bundle: props.bundles.layer,
      environmentName: env,
    });
    const layer = this.sharedLayer.layer;

    const cacheBindings = bindingEnvironment({
      cacheUrl: this.cache.url,
      cacheMode: 'serverless',
      cacheAuth: 'iam',
      cacheUser: this.cache.user.userId,
      cacheName: this.cache.name,
    });
    const proxyBindings = bindingEnvironment({
      dbHost: this.database.proxy.endpoint,
      dbPort: '5432',
      dbName: this.database.databaseName,
      dbUser: this.database.appUser,
      dbAuth: 'iam',
      dbTls: 'require',
    });
    const fn = (service: FunctionName, description: string, environment: Record<string, string>) =>
      new ServiceFunction(this, service, {
        service,
        env,
        description,
        bundle: props.bundles.functions[service],
        layer,
        vpc,
        securityGroup: service === 'db-migrate' ? this.network.migrations : this.network.functions,
        memorySize: settings.functions.memorySize,
        timeout: service === 'db-migrate' ? Duration.minutes(5) : settings.functions.timeout,
        logRetention: settings.logRetention,
        environment,
      });

    // The queue's visibility timeout follows from its consumer's timeout, known before the function exists.
    this.queue = new EventQueue(this, 'Events', {
      maxReceiveCount: settings.queue.maxReceiveCount,
      consumerTimeout: settings.functions.timeout,
    });
    const worker = fn('events-worker', 'stores each event of the queue once and counts it per hour', {
      ...cacheBindings,
      ...proxyBindings,
      ...bindingEnvironment({ deadLetterQueueUrl: this.queue.deadLetterQueue.queueUrl }),
    });
    const api = fn('events-api', 'HTTP API of the events pipeline', {
      ...cacheBindings,
      ...proxyBindings,
      ...bindingEnvironment({
        queueUrl: this.queue.queue.queueUrl,
        deadLetterQueueUrl: this.queue.deadLetterQueue.queueUrl,
      }),
    });
    const migrate = fn('db-migrate', 'applies the events database migrations on deploy', {
      ...bindingEnvironment({
        dbHost: this.database.cluster.clusterEndpoint.hostname,
        dbPort: String(this.database.cluster.clusterEndpoint.port),
        dbName: this.database.databaseName,
        dbUser: 'postgres',
        dbAuth: 'secret',
        dbTls: 'require',
        dbSecretArn: this.database.cluster.secret?.secretArn ?? '',
        dbAppUser: this.database.appUser,
      }),
    });
    this.functions = { 'events-api': api, 'events-worker': worker, 'db-migrate': migrate };

    // Least privilege, exactly what each function's code calls (test/integration/grants.test.ts holds it so):
    // the worker consumes (the event source mapping receives and deletes with its role; the consumer looks the
    // queue up, reads its redrive policy and delays retries) and dead-letters; the API sends and reads depths.
    this.queue.consumeWith(worker.function, settings.queue);
    this.queue.deadLetterQueue.grant(worker.function, 'sqs:SendMessage');
    this.queue.queue.grant(api.function, 'sqs:SendMessage', 'sqs:GetQueueAttributes');
    this.queue.deadLetterQueue.grant(api.function, 'sqs:GetQueueAttributes');
    for (const f of [api, worker]) {
      this.cache.grantConnect(f.function);
      this.database.grantConnect(f.function);
    }
    this.database.cluster.secret?.grantRead(migrate.function);

    // Migrations run once the database is up, and again whenever the function changes (a new migration changes
    // its bundle); a failure fails the deployment.
    new Trigger(this, 'Migrate', {
      handler: migrate.function,
      executeAfter: [this.database.cluster],
      timeout: Duration.minutes(5),
    });

    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: settings.logRetention });
    this.api = new HttpApi(this, 'Api', {
      description: `events-api of ${env}`,
      createDefaultStage: false,
      // Callers sign their requests (SigV4); nothing is open to the internet unauthenticated.
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    // The handler's own routes, each on its own: any other path is answered by API Gateway, never the function.
    const integration = new HttpLambdaIntegration('EventsApi', api.function);
    for (const route of Object.values(eventsApiRoutes)) {
      this.api.addRoutes({ path: route.path, methods: [route.method as HttpMethod], integration });
    }
    new HttpStage(this, 'ApiStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
      throttle: { rateLimit: 100, burstLimit: 200 },
    });

    this.acknowledge(settings);

    this.monitoring = new Monitoring(this, 'Monitoring', {
      env,
      queues: { events: this.queue },
      functions: { 'events-api': api, 'events-worker': worker },
      database: this.database,
      cacheName: this.cache.name,
      api: this.api,
      breakers: { database: EVENTS_DB_BREAKER, cache: 'cache' },
      alarms: settings.alarms,
      removalPolicy: settings.removalPolicy,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.apiEndpoint,
      description: 'events-api (IAM-signed requests)',
    });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.queue.queue.queueUrl });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', { value: this.queue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'CacheEndpoint', { value: this.cache.url });
    new CfnOutput(this, 'DatabaseProxyEndpoint', { value: this.database.proxy.endpoint });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: `lambda-infra-${env}` });
    HelperLogRetention.applyTo(this, {
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
  }

  /**
   * The cdk-nag findings this stack accepts, each on the resource it concerns and with the reason; everything
   * else fails the synth.
   */
  private acknowledge(settings: EnvironmentSettings): void {
    const ack = (scope: IConstruct, id: string, reason: string) =>
      Validations.of(scope).acknowledge({ id, reason });
    for (const [name, f] of Object.entries(this.functions)) {
      const role = f.function.role as IConstruct;
      ack(
        role,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'the AWS policy for writing the function its own logs; nothing broader',
      );
      ack(
        role,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'the AWS policy Lambda needs to attach the function to the VPC (network interfaces take no resource ARN)',
      );
      ack(
        role,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray PutTraceSegments and PutTelemetryRecords take no resource',
      );
      ack(
        role,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/config/${this.environmentName}/${name}/*]`,
        "the function's own config components, one parameter each under its service's path",
      );
      ack(
        role,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
        "decrypting SecureString config: the aws/ssm key's id is not known at synth; the condition limits it to SSM and to the function's own parameters",
      );
    }
    ack(
      this.functions['events-api'].function,
      'Serverless-LambdaDLQ',
      'invoked synchronously by API Gateway: the caller gets the error; there is no async event to keep',
    );
    ack(
      this.functions['events-worker'].function,
      'Serverless-LambdaDLQ',
      "invoked by the SQS event source mapping: failed messages go to the queue's dead-letter queue by its redrive policy",
    );
    ack(
      this.functions['db-migrate'].function,
      'Serverless-LambdaDLQ',
      'invoked synchronously by the deploy trigger: a failure fails the deployment',
    );
    ack(
      this.functions['events-worker'].function,
      'Serverless-LambdaEventSourceMappingDestination',
      "an SQS source keeps failed messages itself: they move to the queue's dead-letter queue after maxReceiveCount",
    );
    ack(
      this.queue.deadLetterQueue,
      'Serverless-SQSRedrivePolicy',
      'it is the dead-letter queue: its messages are inspected and redriven with `lambda-infra dlq`',
    );
    ack(
      this.database.cluster,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
      'the AWS policy that lets RDS publish enhanced monitoring to CloudWatch Logs',
    );
    if (!settings.db.deletionProtection) {
      ack(
        this.database.cluster,
        'AwsSolutions-RDS10',
        `deletion protection is a per-environment setting, on in prod; ${this.environmentName} is disposable`,
      );
    }
  }
}
