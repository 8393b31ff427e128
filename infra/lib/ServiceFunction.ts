import { join } from 'node:path';
import { type BindingName, bindings } from '@lambda-infra/shared/config';
import { ArnFormat, Duration, Stack, Stage, Validations } from 'aws-cdk-lib';
import { type IConnectable, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct, type IConstruct } from 'constructs';
import { functionBundling, PROJECT_ROOT } from './bundling.ts';
import type { Cache } from './Cache.ts';
import type { Database } from './Database.ts';
import type { ConsumeOptions, EventQueue } from './EventQueue.ts';
import type { IPlatform } from './Platform.ts';

/**
 * What a function uses of the platform. Each binding sets the variables the library reads (the bindings'
 * one definition), grants exactly the calls the library makes for it, and opens exactly its port; nothing else
 * is granted or open.
 */
export interface ServiceBindings {
  /**
   * The platform's cache: its endpoint and IAM user, `elasticache:Connect` on them, 6379 to its group.
   * @default false
   */
  readonly cache?: boolean;
  /**
   * The platform's database through its RDS Proxy, as the app user with IAM tokens: `rds-db:connect`, 5432.
   * @default false
   */
  readonly database?: boolean;
  /**
   * The database itself as its owner, the password read from Secrets Manager: for a migration function only.
   * @default false
   */
  readonly databaseOwner?: boolean;
  /**
   * A queue it publishes to: its URL and its dead-letter queue's; SendMessage, and the depths for `/health`.
   * @default none
   */
  readonly publishTo?: EventQueue;
  /**
   * A queue it consumes, with its event source mapping's settings: the dead-letter queue's URL, the mapping's
   * calls, and SendMessage to the dead-letter queue.
   * @default none
   */
  readonly consume?: { readonly queue: EventQueue } & ConsumeOptions;
}

export interface ServiceFunctionProps {
  /** The platform it runs on: its environment, the shared layer, and the resources the bindings name. */
  readonly platform: IPlatform;
  /** The `{service}` of its config path, its Powertools service name, and its name in logs and metrics. */
  readonly service: string;
  /** The handler's source file, bundled by esbuild with the layer's packages and the AWS SDK left out. */
  readonly entry: string;
  /**
   * The exported handler.
   * @default 'handler'
   */
  readonly handler?: string;
  /** @default the service's name */
  readonly description?: string;
  /** @default {} */
  readonly bindings?: ServiceBindings;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;
  /** @default the platform's, else RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /** Variables beyond the service's own and its bindings'. @default {} */
  readonly environment?: Record<string, string>;
  /**
   * How the library traces: `otel` (OpenTelemetry, spans as OTLP to the X-Ray daemon of the sandbox; the account
   * needs CloudWatch Transaction Search, see `Platform`'s `transactionSearch`), `xray` (the Powertools Tracer, on
   * the X-Ray SDK, supported by AWS until 2027-02-25) or `off` (no tracer loaded). Lambda's active tracing is on
   * for `otel` and `xray`, off for `off`.
   * @default 'otel'
   */
  readonly tracing?: 'otel' | 'xray' | 'off';
}

/** Variables from the bindings' one definition, which the library reads back. */
function bindingEnvironment(values: Variables): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [bindings[name as BindingName].variable, value as string]),
  );
}

type Variables = Partial<Record<BindingName, string>>;

/** The cache through its endpoint, as its IAM user. */
const cacheVariables = (cache: Cache): Variables => ({
  cacheUrl: cache.url,
  cacheMode: 'serverless',
  cacheAuth: 'iam',
  cacheUser: cache.user.userId,
  cacheName: cache.name,
});

/** The database through its proxy, as the app user with IAM tokens over TLS. */
const proxyVariables = (database: Database): Variables => ({
  dbHost: database.proxy.endpoint,
  dbPort: '5432',
  dbName: database.databaseName,
  dbUser: database.appUser,
  dbAuth: 'iam',
  dbTls: 'require',
});

/** The database itself, as its owner with the password from Secrets Manager, over TLS. */
const ownerVariables = (database: Database): Variables => ({
  dbHost: database.cluster.clusterEndpoint.hostname,
  dbPort: String(database.cluster.clusterEndpoint.port),
  dbName: database.databaseName,
  dbUser: 'postgres',
  dbAuth: 'secret',
  dbTls: 'require',
  dbSecretArn: database.cluster.secret?.secretArn ?? '',
  dbAppUser: database.appUser,
});

/**
 * A team's function on the platform: nodejs24.x on arm64, the shared layer, OpenTelemetry tracing, JSON logs into a log
 * group with retention, Powertools settings, and the bindings it asks for. It may read its own service's config
 * (`/config/{env}/{service}/`), and gets the grants and the network paths of its bindings, and nothing more. With a
 * cache or database binding it runs in the platform's isolated subnets, in a security group of its own.
 */
export class ServiceFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly service: string;
  readonly bindings: ServiceBindings;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { platform, service } = props;
    const env = platform.environmentName;
    this.service = service;
    this.bindings = props.bindings ?? {};
    const { cache, database, databaseOwner, publishTo, consume } = this.bindings;
    const needs = <K extends 'cache' | 'database' | 'network'>(what: K): NonNullable<IPlatform[K]> => {
      const found = platform[what];
      if (!found)
        throw new Error(`${service}: its bindings need the platform's ${what}, which this one has not`);
      return found as NonNullable<IPlatform[K]>;
    };
    const network = cache || database || databaseOwner ? needs('network') : undefined;
    const tracing = props.tracing ?? 'otel';
    if (!['otel', 'xray', 'off'].includes(tracing)) {
      throw new Error(`${service}: tracing is ${JSON.stringify(tracing)}; it must be otel, xray or off`);
    }

    const environment: Record<string, string> = {
      ...bindingEnvironment({
        env,
        service,
        ...(cache ? cacheVariables(needs('cache')) : {}),
        ...(database ? proxyVariables(needs('database')) : {}),
        ...(databaseOwner ? ownerVariables(needs('database')) : {}),
        ...(publishTo
          ? { queueUrl: publishTo.queue.queueUrl, deadLetterQueueUrl: publishTo.deadLetterQueue.queueUrl }
          : {}),
        ...(consume ? { deadLetterQueueUrl: consume.queue.deadLetterQueue.queueUrl } : {}),
      }),
      POWERTOOLS_SERVICE_NAME: service,
      POWERTOOLS_METRICS_NAMESPACE: 'lambda-infra',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      // The library's back end for tracing; active tracing below runs the daemon it sends to.
      LAMBDA_INFRA_TRACING: tracing,
      // Responses can carry personal data and are capped at 64 KB in X-Ray.
      ...(tracing === 'xray' ? { POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false' } : {}),
    };

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? platform.logRetention ?? RetentionDays.THREE_MONTHS,
    });
    const securityGroup = network
      ? new SecurityGroup(this, 'SecurityGroup', {
          vpc: network.vpc,
          description: `${service}: out to what its bindings reach, and nothing else`,
          allowAllOutbound: false,
        })
      : undefined;
    this.function = new NodejsFunction(this, 'Function', {
      description: props.description ?? service,
      entry: props.entry,
      handler: props.handler ?? 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}/package-lock.json`,
      bundling: functionBundling,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      layers: [platform.layer],
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: tracing === 'off' ? Tracing.DISABLED : Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      ...(network && securityGroup
        ? {
            vpc: network.vpc,
            vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
            securityGroups: [securityGroup],
          }
        : {}),
      environment: { ...environment, ...props.environment },
    });

    // The network paths of its bindings, each through the other side's connections.
    const reach = (other: IConnectable, why: string) =>
      other.connections.allowDefaultPortFrom(this.function, why);
    if (network) reach(network, `${service} to AWS service endpoints`);
    if (cache) reach(needs('cache'), `${service} to the cache`);
    if (database) reach(needs('database'), `${service} to the RDS Proxy`);
    if (databaseOwner) reach(needs('database').cluster, `${service} to the database`);

    // The grants of its bindings, each the resource's own.
    if (cache) needs('cache').grantConnect(this.function);
    if (database) needs('database').grantConnect(this.function);
    if (databaseOwner) needs('database').cluster.secret?.grantRead(this.function);
    publishTo?.grantPublish(this.function);
    if (consume) {
      const { queue, ...options } = consume;
      queue.consumeWith(this.function, options);
    }

    // Its own config only: /config/{env}/{service} and below.
    const stack = Stack.of(this);
    const path = `config/${env}/${service}`;
    const parameter = (name: string) =>
      stack.formatArn({
        service: 'ssm',
        resource: 'parameter',
        resourceName: name,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ssm:GetParametersByPath', 'ssm:GetParameters', 'ssm:GetParameter'],
        resources: [parameter(path), parameter(`${path}/*`)],
      }),
    );
    // SecureString components are encrypted with the account's aws/ssm key, used only through SSM.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameter(`${path}/*`) },
        },
      }),
    );
    this.acknowledge(path, Boolean(network));
  }

  /** The bundle esbuild wrote for it, in the cloud assembly. */
  get bundleDir(): string {
    const asset = this.function.node.findChild('Code') as Asset;
    return join(Stage.of(this)?.outdir ?? '.', asset.assetPath);
  }

  /** The cdk-nag findings every service function carries, each with its reason, on its role. */
  private acknowledge(path: string, inVpc: boolean): void {
    const role = this.function.role as IConstruct;
    const ack = (id: string, reason: string) => Validations.of(role).acknowledge({ id, reason });
    ack(
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'the AWS policy for writing the function its own logs; nothing broader',
    );
    if (inVpc) {
      ack(
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'the AWS policy Lambda needs to attach the function to the VPC (network interfaces take no resource ARN)',
      );
    }
    ack('AwsSolutions-IAM5[Resource::*]', 'X-Ray PutTraceSegments and PutTelemetryRecords take no resource');
    ack(
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/${path}/*]`,
      "the function's own config components, one parameter each under its service's path",
    );
    ack(
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
      "decrypting SecureString config: the aws/ssm key's id is not known at synth; the condition limits it to SSM and to the function's own parameters",
    );
  }
}
