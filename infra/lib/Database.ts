import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Connections,
  type IConnectable,
  type IVpc,
  Port,
  SecurityGroup,
  SubnetType,
} from 'aws-cdk-lib/aws-ec2';
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
  readonly vpc: IVpc;
  /** What the secret rotation function must reach besides the database: the Secrets Manager endpoint. */
  readonly endpoints: IConnectable;
  /** @default 'app' */
  readonly databaseName?: string;
  /**
   * The proxy's name, unique in the account and region.
   * @default one CloudFormation makes up
   */
  readonly proxyName?: string;
  /**
   * The user the functions connect as, with IAM tokens through the proxy; the migration function creates it.
   * @default 'app_user'
   */
  readonly appUser?: string;
  /** Aurora capacity units. @default 0.5 */
  readonly minCapacity?: number;
  /** @default 2 */
  readonly maxCapacity?: number;
  /** @default true */
  readonly deletionProtection?: boolean;
  /** @default Duration.days(7) */
  readonly backupRetention?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Aurora PostgreSQL Serverless v2, encrypted, with IAM authentication, behind an RDS Proxy that requires TLS
 * and authenticates end to end with IAM: no function holds a password. The owner's password lives in Secrets
 * Manager for the migration function's bootstrap only. Its security groups are its own: the database's opens
 * 5432 to the proxy and the rotation function, and the proxy's (`database.connections`) to the functions allowed
 * one by one (`database.connections.allowDefaultPortFrom(fn)`).
 */
export class Database extends Construct implements IConnectable {
  readonly cluster: DatabaseCluster;
  readonly proxy: DatabaseProxy;
  readonly databaseName: string;
  readonly appUser: string;
  /** The proxy's group, port 5432: what a function connects through. */
  readonly connections: Connections;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.databaseName = props.databaseName ?? 'app';
    this.appUser = props.appUser ?? 'app_user';
    const group = (name: string, description: string) =>
      new SecurityGroup(this, name, { vpc: props.vpc, description, allowAllOutbound: false });
    this.cluster = new DatabaseCluster(this, 'Cluster', {
      engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_9 }),
      credentials: Credentials.fromGeneratedSecret('postgres'),
      defaultDatabaseName: this.databaseName,
      writer: ClusterInstance.serverlessV2('Writer', { enablePerformanceInsights: true }),
      serverlessV2MinCapacity: props.minCapacity ?? 0.5,
      serverlessV2MaxCapacity: props.maxCapacity ?? 2,
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [
        group('DatabaseSecurityGroup', 'Aurora: 5432 from the proxy and the groups allowed one by one'),
      ],
      storageEncrypted: true,
      // TLS for every connection, the proxy's and the migration function's alike.
      parameters: { 'rds.force_ssl': '1' },
      iamAuthentication: true,
      deletionProtection: props.deletionProtection ?? true,
      backup: { retention: props.backupRetention ?? Duration.days(7) },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      cloudwatchLogsExports: ['postgresql'],
      monitoringInterval: Duration.seconds(60),
      enablePerformanceInsights: true,
    });
    // The owner's password is read only by the migration function's bootstrap; rotating it monthly costs
    // nothing at run time, since every function authenticates with IAM tokens.
    const rotation = group(
      'RotationSecurityGroup',
      'Secret rotation function: out to the database and Secrets Manager',
    );
    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      securityGroup: rotation,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
    });
    props.endpoints.connections.allowDefaultPortFrom(
      rotation,
      'the secret rotation function to Secrets Manager',
    );
    // End to end IAM: the proxy signs in to the database as the app user with a token of its own role.
    const proxyRole = new Role(this, 'ProxyRole', { assumedBy: new ServicePrincipal('rds.amazonaws.com') });
    proxyRole.addToPolicy(
      new PolicyStatement({
        actions: ['rds-db:connect'],
        resources: [
          Stack.of(this).formatArn({
            service: 'rds-db',
            resource: 'dbuser',
            resourceName: `${this.cluster.clusterResourceIdentifier}/${this.appUser}`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    this.proxy = new DatabaseProxy(this, 'Proxy', {
      ...(props.proxyName ? { dbProxyName: props.proxyName } : {}),
      role: proxyRole,
      proxyTarget: ProxyTarget.fromCluster(this.cluster),
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      securityGroups: [group('ProxySecurityGroup', 'RDS Proxy: 5432 from the functions allowed one by one')],
      requireTLS: true,
      iamAuth: true,
      defaultAuthScheme: DefaultAuthScheme.IAM_AUTH,
    });
    this.cluster.connections.allowDefaultPortFrom(this.proxy, 'the proxy to the database');
    this.connections = new Connections({
      securityGroups: this.proxy.connections.securityGroups,
      defaultPort: Port.tcp(5432),
    });
  }

  /** `rds-db:connect` through the proxy as the app user, and as nobody else. */
  grantConnect(grantee: IGrantable): void {
    this.proxy.grantConnect(grantee, this.appUser);
  }
}
