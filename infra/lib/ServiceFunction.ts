import { type Duration, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  Code,
  type ILayerVersion,
  Function as LambdaFunction,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Bundle } from './bundling.ts';

export interface ServiceFunctionProps {
  /** The `{service}` of its config path, its Powertools service name, and its name in logs and metrics. */
  service: string;
  /** The `{env}` of its config path. */
  env: string;
  bundle: Bundle;
  layer: ILayerVersion;
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  memorySize: number;
  timeout: Duration;
  logRetention: RetentionDays;
  /** Environment variables beyond the service's own: the bindings of the resources it uses. */
  environment?: Record<string, string>;
  description: string;
}

/**
 * A reference function: nodejs24.x on arm64, the shared layer, active tracing, JSON logs into a log group
 * with retention, Powertools settings, the bindings, in the isolated subnets. It may read its own service's
 * config, and nothing more until a resource grants it.
 */
export class ServiceFunction extends Construct {
  readonly function: LambdaFunction;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.function = new LambdaFunction(this, 'Function', {
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      code: Code.fromAsset(props.bundle.dir),
      layers: [props.layer],
      memorySize: props.memorySize,
      timeout: props.timeout,
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.securityGroup],
      environment: {
        LAMBDA_INFRA_ENV: props.env,
        LAMBDA_INFRA_SERVICE: props.service,
        POWERTOOLS_SERVICE_NAME: props.service,
        POWERTOOLS_METRICS_NAMESPACE: 'lambda-infra',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        // Responses can carry personal data and are capped at 64 KB in X-Ray.
        POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
        ...props.environment,
      },
    });

    // Its own config only: /config/{env}/{service} and below.
    const { partition, region, account } = Stack.of(this);
    const path = `/config/${props.env}/${props.service}`;
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ssm:GetParametersByPath', 'ssm:GetParameters', 'ssm:GetParameter'],
        resources: [
          `arn:${partition}:ssm:${region}:${account}:parameter${path}`,
          `arn:${partition}:ssm:${region}:${account}:parameter${path}/*`,
        ],
      }),
    );
    // SecureString components are encrypted with the account's aws/ssm key, used only through SSM.
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['kms:Decrypt'],
        resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` },
          StringLike: {
            'kms:EncryptionContext:PARAMETER_ARN': `arn:${partition}:ssm:${region}:${account}:parameter${path}/*`,
          },
        },
      }),
    );
  }
}
