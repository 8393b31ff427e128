import {
  Connections,
  FlowLogDestination,
  type IConnectable,
  InterfaceVpcEndpointAwsService,
  type IVpc,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /**
   * Availability zones. An environment-agnostic stack (synth with no account) sees two; give the stack an account
   * and region to use more.
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * How long the VPC's flow logs are kept.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
}

/**
 * A VPC with isolated subnets only: no internet gateway, no NAT, flow logs on. What runs in it reaches AWS through
 * interface endpoints for SQS, SSM and Secrets Manager, whose security group is this construct's own:
 * `network.endpoints.allowDefaultPortFrom(fn)` opens 443 from one function's group, and nothing is open by default.
 * Every other construct owns its own group.
 */
export class Network extends Construct implements IConnectable {
  readonly vpc: IVpc;
  /** The endpoints' group, port 443: what a function must be allowed to reach to call SQS, SSM or Secrets Manager. */
  readonly connections: Connections;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        all: {
          destination: FlowLogDestination.toCloudWatchLogs(
            new LogGroup(this, 'FlowLogs', { retention: props.logRetention ?? RetentionDays.THREE_MONTHS }),
          ),
        },
      },
    });
    this.vpc = vpc;
    const endpoints = new SecurityGroup(this, 'Endpoints', {
      vpc,
      description: 'Interface endpoints: 443 from the groups allowed one by one',
      allowAllOutbound: false,
    });
    this.connections = new Connections({ securityGroups: [endpoints], defaultPort: Port.tcp(443) });
    const services = {
      Sqs: InterfaceVpcEndpointAwsService.SQS,
      Ssm: InterfaceVpcEndpointAwsService.SSM,
      SecretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    for (const [name, service] of Object.entries(services)) {
      vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        // Not the default of the whole VPC's CIDR: only the groups allowed one by one.
        open: false,
        securityGroups: [endpoints],
        subnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      });
    }
  }
}
