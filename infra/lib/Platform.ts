import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type ILayerVersion, LayerVersion } from 'aws-cdk-lib/aws-lambda';
import { CfnResourcePolicy, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import { CfnTransactionSearchConfig } from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';
import type { Bundle } from './bundling.ts';
import { Cache, type CacheProps } from './Cache.ts';
import { Database, type DatabaseProps } from './Database.ts';
import { Network, type NetworkProps } from './Network.ts';
import { layerArnParameterName, SharedLayer } from './SharedLayer.ts';

/**
 * What a `ServiceFunction` needs of the platform: its environment and the shared layer always; the network, cache
 * and database only for the bindings that name them.
 */
export interface IPlatform {
  readonly environmentName: string;
  readonly layer: ILayerVersion;
  readonly logRetention?: RetentionDays;
  readonly network?: Network;
  readonly cache?: Cache;
  readonly database?: Database;
}

export interface PlatformProps {
  /** dev, prod, …: the `{env}` of every config path, resource name and the layer's parameter. */
  readonly environmentName: string;
  /** The shared layer's bundle: `await bundleLayer()`. */
  readonly layerBundle: Bundle;
  /**
   * The log groups of the functions on it and of the VPC's flow logs.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the cache and the database when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** @default a VPC of two zones' isolated subnets with endpoints for SQS, SSM and Secrets Manager */
  readonly network?: Omit<NetworkProps, 'logRetention'>;
  /**
   * The cache's settings, or `false` for none.
   * @default an ElastiCache Serverless cache named `lambda-infra-{env}`, 1 GB and 5,000 ECPU/s at most
   */
  readonly cache?: (Omit<CacheProps, 'vpc' | 'removalPolicy' | 'name'> & { readonly name?: string }) | false;
  /**
   * The database's settings, or `false` for none.
   * @default Aurora Serverless v2 (0.5-2 ACU) behind an RDS Proxy named `lambda-infra-{env}`, deletion protection on
   */
  readonly database?: Omit<DatabaseProps, 'vpc' | 'endpoints' | 'removalPolicy'> | false;
  /**
   * Turns on CloudWatch Transaction Search for the account and region, where X-Ray keeps the OTLP spans that
   * `ServiceFunction`'s default tracing (`otel`) sends: the logs resource policy that lets X-Ray write the
   * `aws/spans` log group, and the search config indexing `indexingPercentage` of the spans as trace summaries.
   * It is one setting per account and region: turn it on in one stack only, and only where it is off (AWS refuses
   * to create it over a console-enabled one).
   * @default false
   */
  readonly transactionSearch?: boolean | { readonly indexingPercentage: number };
}

/**
 * The shared infrastructure of one environment that every team's functions run on: a private network, the cache,
 * the database behind its proxy, and the shared layer, whose version ARN it publishes in SSM. Secure by default:
 * each setting is overridable here, at the call site, and each resource's own construct owns its security group.
 */
export class Platform extends Construct implements IPlatform {
  readonly environmentName: string;
  readonly network: Network;
  readonly cache?: Cache;
  readonly database?: Database;
  readonly sharedLayer: SharedLayer;
  readonly logRetention: RetentionDays;

  /**
   * A platform deployed by another app or stack, for a team's own: the layer from the version ARN the platform
   * published in SSM at `/lambda-infra/{env}/layer/arn` (a CloudFormation parameter, resolved at deploy).
   */
  static fromLayerParameter(scope: Construct, id: string, environmentName: string): IPlatform {
    const arn = StringParameter.valueForStringParameter(scope, layerArnParameterName(environmentName));
    return { environmentName, layer: LayerVersion.fromLayerVersionArn(scope, id, arn) };
  }

  constructor(scope: Construct, id: string, props: PlatformProps) {
    super(scope, id);
    const env = props.environmentName;
    this.environmentName = env;
    this.logRetention = props.logRetention ?? RetentionDays.THREE_MONTHS;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.network = new Network(this, 'Network', { ...props.network, logRetention: this.logRetention });
    const { vpc } = this.network;
    if (props.cache !== false) {
      this.cache = new Cache(this, 'Cache', {
        name: `lambda-infra-${env}`,
        ...props.cache,
        vpc,
        removalPolicy,
      });
    }
    if (props.database !== false) {
      this.database = new Database(this, 'Database', {
        proxyName: `lambda-infra-${env}`,
        ...props.database,
        vpc,
        endpoints: this.network,
        removalPolicy,
      });
    }
    this.sharedLayer = new SharedLayer(this, 'SharedLayer', {
      bundle: props.layerBundle,
      environmentName: env,
    });
    if (props.transactionSearch) this.enableTransactionSearch(props.transactionSearch);
  }

  private enableTransactionSearch(options: true | { readonly indexingPercentage: number }): void {
    const indexingPercentage = options === true ? 1 : options.indexingPercentage;
    if (!(indexingPercentage >= 0 && indexingPercentage <= 100)) {
      throw new Error(`transactionSearch.indexingPercentage is ${indexingPercentage}; it must be 0 to 100`);
    }
    const stack = Stack.of(this);
    const logGroup = (name: string) =>
      `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${name}:*`;
    const policy = new CfnResourcePolicy(this, 'TransactionSearchPolicy', {
      policyName: `lambda-infra-${this.environmentName}-transaction-search`,
      policyDocument: stack.toJsonString({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'XRayWritesSpans',
            Effect: 'Allow',
            Principal: { Service: 'xray.amazonaws.com' },
            Action: 'logs:PutLogEvents',
            Resource: [logGroup('aws/spans'), logGroup('/aws/application-signals/data')],
            Condition: {
              ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:xray:${stack.region}:${stack.account}:*` },
              StringEquals: { 'aws:SourceAccount': stack.account },
            },
          },
        ],
      }),
    });
    const search = new CfnTransactionSearchConfig(this, 'TransactionSearch', { indexingPercentage });
    search.addResourceDependency(policy);
  }

  get layer(): ILayerVersion {
    return this.sharedLayer.layer;
  }
}
