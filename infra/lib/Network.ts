import {
  FlowLogDestination,
  InterfaceVpcEndpointAwsService,
  type IVpc,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  maxAzs: number;
  logRetention: RetentionDays;
}

/**
 * A VPC with isolated subnets only: no internet gateway, no NAT. The functions reach AWS services through
 * interface endpoints and the cache and proxy inside the VPC; each security group opens one port, to the
 * functions only.
 */
export class Network extends Construct {
  readonly vpc: IVpc;
  /** The functions: they may reach the endpoints, the cache and the proxy, and nothing else. */
  readonly functions: SecurityGroup;
  readonly cache: SecurityGroup;
  readonly proxy: SecurityGroup;
  readonly database: SecurityGroup;
  readonly endpoints: SecurityGroup;
  /** The migration function: to the database itself (its bootstrap needs the owner's password) and the endpoints. */
  readonly migrations: SecurityGroup;
  /** The function that rotates the database owner's password. */
  readonly rotation: SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        all: {
          destination: FlowLogDestination.toCloudWatchLogs(
            new LogGroup(this, 'FlowLogs', { retention: props.logRetention }),
          ),
        },
      },
    });
    this.vpc = vpc;

    const group = (name: string, description: string) =>
      new SecurityGroup(this, name, { vpc, description, allowAllOutbound: false });
    this.functions = group(
      'Functions',
      'Lambda functions: out to the endpoints, the cache and the proxy only',
    );
    this.cache = group('Cache', 'ElastiCache: 6379 from the functions only');
    this.proxy = group('Proxy', 'RDS Proxy: 5432 from the functions only; out to the database');
    this.database = group('Database', 'Aurora: 5432 from the proxy (and the migration function) only');
    this.endpoints = group('Endpoints', 'Interface endpoints: 443 from the functions only');
    this.migrations = group('Migrations', 'Migration function: out to the database and the endpoints only');
    this.rotation = group('Rotation', 'Secret rotation function: out to the database and the endpoints only');

    // Group to group, as separate rule resources: inline rules naming each other would make a cycle.
    const allow = (from: SecurityGroup, to: SecurityGroup, port: number, why: string) => {
      to.connections.allowFrom(from, Port.tcp(port), why);
    };
    allow(this.functions, this.cache, 6379, 'functions to the cache');
    allow(this.functions, this.proxy, 5432, 'functions to the RDS Proxy');
    allow(this.proxy, this.database, 5432, 'the proxy to the database');
    allow(this.functions, this.endpoints, 443, 'functions to AWS service endpoints');
    allow(this.migrations, this.database, 5432, 'the migration function to the database');
    allow(this.migrations, this.endpoints, 443, 'the migration function to AWS service endpoints');
    allow(this.rotation, this.database, 5432, 'the secret rotation function to the database');
    allow(this.rotation, this.endpoints, 443, 'the secret rotation function to Secrets Manager');

    // What the functions call: queues, config, and the database secret the migration function bootstraps with.
    const services = {
      Sqs: InterfaceVpcEndpointAwsService.SQS,
      Ssm: InterfaceVpcEndpointAwsService.SSM,
      SecretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    for (const [name, service] of Object.entries(services)) {
      vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        // Not the default of the whole VPC's CIDR: only the groups allowed above.
        open: false,
        securityGroups: [this.endpoints],
        subnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      });
    }
  }
}
