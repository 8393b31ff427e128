import { Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type ISecurityGroup, type IVpc, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseProxy,
  DefaultAuthScheme,
  ProxyTarget,
} from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';

export interface DatabaseProps {
  vpc: IVpc;
  databaseSecurityGroup: ISecurityGroup;
  proxySecurityGroup: ISecurityGroup;
  rotationSecurityGroup: ISecurityGroup;
  databaseName: string;
  /** Unique in the account and region. */
  proxyName: string;
  /** The user the functions connect as, with IAM tokens through the proxy; the migration function creates it. */
  appUser: string;
  minCapacity: number;
  maxCapacity: number;
  deletionProtection: boolean;
  backupRetention: Duration;
  removalPolicy: RemovalPolicy;
}

/**
 * Aurora PostgreSQL Serverless v2, encrypted, with IAM authentication, behind an RDS Proxy that requires TLS
 * and authenticates end to end with IAM: no function holds a password. The owner's password lives in Secrets
 * Manager for the migration function's bootstrap only.
 */
export class Database extends Construct {
  readonly cluster: DatabaseCluster;
  readonly proxy: DatabaseProxy;
  readonly databaseName: string;
  readonly appUser: string;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.databaseName = props.databaseName;
    this.appUser = props.appUser;
    this.cluster = new DatabaseCluster(this, 'Cluster', {
      engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_9 }),
      credentials: Credentials.fromGeneratedSecret('postgres'),
      defaultDatabaseName: props.databaseName,
      writer: ClusterInstance.serverlessV2('Writer', { enablePerformanceInsights: true }),
      serverlessV2MinCapacity: props.minCapacity,
      serverlessV2MaxCapacity: props.maxCapacity,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.databaseSecurityGroup],
      storageEncrypted: true,
      // TLS for every connection, the proxy's and the migration function's alike.
      parameters: { 'rds.force_ssl': '1' },
      iamAuthentication: true,
      deletionProtection: props.deletionProtection,
      backup: { retention: props.backupRetention },
      removalPolicy: props.removalPolicy,
      cloudwatchLogsExports: ['postgresql'],
      monitoringInterval: Duration.seconds(60),
      enablePerformanceInsights: true,
    });
    // The owner's password is read only by the migration function's bootstrap; rotating it monthly costs
    // nothing at run time, since every function authenticates with IAM tokens.
    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      securityGroup: props.rotationSecurityGroup,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
    });
    // End to end IAM: the proxy signs in to the database as the app user with a token of its own role.
    const proxyRole = new Role(this, 'ProxyRole', { assumedBy: new ServicePrincipal('rds.amazonaws.com') });
    const { partition, region, account } = Stack.of(this);
    proxyRole.addToPolicy(
      new PolicyStatement({
        actions: ['rds-db:connect'],
        resources: [
          `arn:${partition}:rds-db:${region}:${account}:dbuser:${this.cluster.clusterResourceIdentifier}/${props.appUser}`,
        ],
      }),
    );
    this.proxy = new DatabaseProxy(this, 'Proxy', {
      dbProxyName: props.proxyName,
      role: proxyRole,
      proxyTarget: ProxyTarget.fromCluster(this.cluster),
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.proxySecurityGroup],
      requireTLS: true,
      iamAuth: true,
      defaultAuthScheme: DefaultAuthScheme.IAM_AUTH,
    });
  }

  /** `rds-db:connect` through the proxy as the app user, and as nobody else. */
  grantConnect(grantee: IGrantable): void {
    this.proxy.grantConnect(grantee, this.appUser);
  }
}
