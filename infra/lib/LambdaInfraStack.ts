import { fileURLToPath } from 'node:url';
import { EVENTS_DB_BREAKER } from '@lambda-infra/db-migrate/events';
import { eventsApiRoutes } from '@lambda-infra/events-api/routes';
import type { ConfigEntry } from '@lambda-infra/shared/config';
import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Trigger } from 'aws-cdk-lib/triggers';
import type { Construct, IConstruct } from 'constructs';
import type { Bundle } from './bundling.ts';
import { ConfigParameters } from './ConfigParameters.ts';
import { EventQueue } from './EventQueue.ts';
import { HelperLogRetention } from './HelperLogRetention.ts';
import { Monitoring } from './Monitoring.ts';
import { Platform } from './Platform.ts';
import { type ServiceBindings, ServiceFunction } from './ServiceFunction.ts';
import type { EnvironmentSettings } from './settings.ts';

export interface LambdaInfraStackProps extends StackProps {
  /** dev, prod, …: the `{env}` of every config path and resource name. */
  readonly environmentName: string;
  readonly settings: EnvironmentSettings;
  readonly config: ConfigEntry[];
  /** The shared layer's bundle: `await bundleLayer()`. */
  readonly layerBundle: Bundle;
  /**
   * CloudWatch Transaction Search for the account and region (`-c transactionSearch=true`): once per account.
   * @default false
   */
  readonly transactionSearch?: boolean;
}

/** Where a reference function's handler is. */
const entry = (name: string) =>
  fileURLToPath(new URL(`../../functions/${name}/src/handler.ts`, import.meta.url));

/**
 * The platform of one environment and the reference events pipeline on it: config, queue, functions, HTTP API,
 * dashboard and alarms. Each function is declared once, here, with what it binds.
 */
export class LambdaInfraStack extends Stack {
  readonly platform: Platform;
  readonly queue: EventQueue;
  readonly functions: {
    'events-api': ServiceFunction;
    'events-worker': ServiceFunction;
    'db-migrate': ServiceFunction;
  };
  readonly api: HttpApi;
  readonly monitoring: Monitoring;
  readonly environmentName: string;

  constructor(scope: Construct, id: string, props: LambdaInfraStackProps) {
    super(scope, id, props);
    const { environmentName: env, settings } = props;
    this.environmentName = env;

    new ConfigParameters(this, 'Config', { entries: props.config });
    // Its id 'Default' leaves it out of its resources' logical ids, which stay what they were before the platform
    // was a construct of its own: a deployed stack keeps its database and cache.
    this.platform = new Platform(this, 'Default', {
      environmentName: env,
      layerBundle: props.layerBundle,
      logRetention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
      network: { maxAzs: settings.network.maxAzs },
      cache: settings.cache,
      database: { databaseName: 'events', appUser: 'events_app', ...settings.db },
      transactionSearch: props.transactionSearch ?? false,
    });
    const database = this.platform.database!;

    // The queue's visibility timeout follows from its consumer's timeout, known before the function exists.
    this.queue = new EventQueue(this, 'Events', {
      maxReceiveCount: settings.queue.maxReceiveCount,
      consumerTimeout: settings.functions.timeout,
    });
    const fn = (
      service: string,
      description: string,
      bindings: ServiceBindings,
      timeout = settings.functions.timeout,
    ) =>
      new ServiceFunction(this, service, {
        platform: this.platform,
        service,
        entry: entry(service),
        description,
        bindings,
        memorySize: settings.functions.memorySize,
        timeout,
      });
    // Least privilege, exactly what each function's code calls (test/integration/grants.test.ts holds it so).
    const worker = fn('events-worker', 'stores each event of the queue once and counts it per hour', {
      cache: true,
      database: true,
      consume: { queue: this.queue, ...settings.queue },
    });
    const api = fn('events-api', 'HTTP API of the events pipeline', {
      cache: true,
      database: true,
      publishTo: this.queue,
    });
    const migrate = fn(
      'db-migrate',
      'applies the events database migrations on deploy',
      { databaseOwner: true },
      Duration.minutes(5),
    );
    this.functions = { 'events-api': api, 'events-worker': worker, 'db-migrate': migrate };

    // Migrations run once the database is up, and again whenever the function changes (a new migration changes
    // its bundle); a failure fails the deployment.
    new Trigger(this, 'Migrate', {
      handler: migrate.function,
      executeAfter: [database.cluster],
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
      database,
      cacheName: this.platform.cache!.name,
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
    new CfnOutput(this, 'CacheEndpoint', { value: this.platform.cache!.url });
    new CfnOutput(this, 'DatabaseProxyEndpoint', { value: database.proxy.endpoint });
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
      this.platform.database!.cluster,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
      'the AWS policy that lets RDS publish enhanced monitoring to CloudWatch Logs',
    );
    if (!settings.db.deletionProtection) {
      ack(
        this.platform.database!.cluster,
        'AwsSolutions-RDS10',
        `deletion protection is a per-environment setting, on in prod; ${this.environmentName} is disposable`,
      );
    }
  }
}
