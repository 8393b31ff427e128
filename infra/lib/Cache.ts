import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { CfnServerlessCache, CfnUser, CfnUserGroup } from 'aws-cdk-lib/aws-elasticache';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface CacheProps {
  vpc: IVpc;
  securityGroup: ISecurityGroup;
  /** Becomes the cache's name, its user's and its user group's: lowercase letters, digits and hyphens. */
  name: string;
  maxDataStorageGb: number;
  maxEcpuPerSecond: number;
  snapshotRetentionDays: number;
  removalPolicy: RemovalPolicy;
}

/**
 * ElastiCache Serverless for Valkey: TLS always (serverless caches accept nothing else), encryption at rest
 * with a key of its own,
 * and IAM authentication through a user group whose only user authenticates with IAM, so a function needs
 * `elasticache:Connect` and no password exists to leak.
 */
export class Cache extends Construct {
  readonly cache: CfnServerlessCache;
  readonly user: CfnUser;
  readonly userGroup: CfnUserGroup;
  /** `rediss://{endpoint}:{port}` */
  readonly url: string;
  readonly name: string;
  /** The customer managed key the cache is encrypted with at rest. */
  readonly key: Key;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    this.name = props.name;
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
      removalPolicy: props.removalPolicy,
    });
    this.cache = new CfnServerlessCache(this, 'Cache', {
      serverlessCacheName: props.name,
      engine: 'valkey',
      majorEngineVersion: '8',
      description: 'lambda-infra cache: TLS, encrypted at rest, IAM authentication',
      securityGroupIds: [props.securityGroup.securityGroupId],
      subnetIds: props.vpc.isolatedSubnets.slice(0, 3).map((s) => s.subnetId),
      userGroupId: this.userGroup.userGroupId,
      cacheUsageLimits: {
        dataStorage: { maximum: props.maxDataStorageGb, unit: 'GB' },
        ecpuPerSecond: { maximum: props.maxEcpuPerSecond },
      },
      snapshotRetentionLimit: props.snapshotRetentionDays,
      kmsKeyId: this.key.keyId,
    });
    this.cache.node.addDependency(this.userGroup);
    this.url = `rediss://${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`;
  }

  /** `elasticache:Connect` on this cache, as its IAM user, and nothing else. */
  grantConnect(grantee: IGrantable): void {
    const { region, account, partition } = Stack.of(this);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['elasticache:Connect'],
        resources: [
          `arn:${partition}:elasticache:${region}:${account}:serverlesscache:${this.cache.serverlessCacheName}`,
          `arn:${partition}:elasticache:${region}:${account}:user:${this.user.userId}`,
        ],
      }),
    );
  }
}
