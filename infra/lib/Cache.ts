import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Connections, type IConnectable, type IVpc, Port, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { CfnServerlessCache, CfnUser, CfnUserGroup } from 'aws-cdk-lib/aws-elasticache';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface CacheProps {
  readonly vpc: IVpc;
  /** Becomes the cache's name, its user's and its user group's: lowercase letters, digits and hyphens. */
  readonly name: string;
  /** @default 1 */
  readonly maxDataStorageGb?: number;
  /**
   * ElastiCache Processing Units a second, the cache's ceiling (and its bill's).
   * @default 5000
   */
  readonly maxEcpuPerSecond?: number;
  /** @default 1 */
  readonly snapshotRetentionDays?: number;
  /**
   * What happens to the cache and its key when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * ElastiCache Serverless for Valkey: TLS always (serverless caches accept nothing else), encryption at rest
 * with a key of its own, and IAM authentication through a user group whose only user authenticates with IAM, so
 * a function needs `elasticache:Connect` and no password exists to leak. Its security group is its own and
 * closed: `cache.connections.allowDefaultPortFrom(fn)` opens 6379 to one function.
 */
export class Cache extends Construct implements IConnectable {
  readonly cache: CfnServerlessCache;
  readonly user: CfnUser;
  readonly userGroup: CfnUserGroup;
  /** `rediss://{endpoint}:{port}` */
  readonly url: string;
  readonly name: string;
  /** The customer managed key the cache is encrypted with at rest. */
  readonly key: Key;
  readonly connections: Connections;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    this.name = props.name;
    const securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'ElastiCache: 6379 from the functions allowed one by one',
      allowAllOutbound: false,
    });
    this.connections = new Connections({ securityGroups: [securityGroup], defaultPort: Port.tcp(6379) });
    // The IAM user's id and name must be the same; it is the AUTH username the library sends.
    this.user = new CfnUser(this, 'User', {
      engine: 'valkey',
      userId: `${props.name}-app`,
      userName: `${props.name}-app`,
      authenticationMode: { Type: 'iam' },
      accessString: 'on ~* +@all -@dangerous',
    });
    // A user group must hold a user named `default`, which unauthenticated connections act as: switched off.
    const defaultUser = new CfnUser(this, 'DefaultUser', {
      engine: 'valkey',
      userId: `${props.name}-default`,
      userName: 'default',
      authenticationMode: { Type: 'no-password-required' },
      accessString: 'off -@all',
    });
    this.userGroup = new CfnUserGroup(this, 'UserGroup', {
      engine: 'valkey',
      userGroupId: `${props.name}-users`,
      userIds: [defaultUser.userId, this.user.userId],
    });
    this.userGroup.node.addDependency(this.user);
    this.userGroup.node.addDependency(defaultUser);
    this.key = new Key(this, 'Key', {
      description: `encrypts the ${props.name} cache at rest`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.cache = new CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: props.name,
      engine: 'valkey',
      majorEngineVersion: '8',
      description: 'lambda-infra cache: TLS, encrypted at rest, IAM authentication',
      securityGroupIds: [securityGroup.securityGroupId],
      subnetIds: props.vpc.isolatedSubnets.slice(0, 3).map((s) => s.subnetId),
      userGroupId: this.userGroup.userGroupId,
      cacheUsageLimits: {
        dataStorage: { maximum: props.maxDataStorageGb ?? 1, unit: 'GB' },
        ecpuPerSecond: { maximum: props.maxEcpuPerSecond ?? 5_000 },
      },
      snapshotRetentionLimit: props.snapshotRetentionDays ?? 1,
      kmsKeyId: this.key.keyId,
    });
    this.cache.node.addDependency(this.userGroup);
    this.cache.applyRemovalPolicy(props.removalPolicy ?? RemovalPolicy.RETAIN);
    this.url = `rediss://${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`;
  }

  /** `elasticache:Connect` on this cache, as its IAM user, and nothing else. */
  grantConnect(grantee: IGrantable): void {
    const stack = Stack.of(this);
    const arn = (resource: string, resourceName: string) =>
      stack.formatArn({
        service: 'elasticache',
        resource,
        resourceName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['elasticache:Connect'],
        resources: [arn('serverlesscache', this.cache.serverlessCacheName), arn('user', this.user.userId)],
      }),
    );
  }
}
