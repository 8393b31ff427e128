import { fileURLToPath } from 'node:url';
import { Platform, ServiceFunction } from '@lambda-infra/infra';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

export interface GreetingServiceStackProps extends StackProps {
  /** The platform environment it runs on: `dev`, `prod`, … */
  readonly environmentName: string;
}

/**
 * A team's own stack on a platform deployed elsewhere: the shared layer's version ARN is read from SSM at deploy,
 * and the one function gets its own config and nothing else.
 */
export class GreetingServiceStack extends Stack {
  readonly greeting: ServiceFunction;

  constructor(scope: Construct, id: string, props: GreetingServiceStackProps) {
    super(scope, id, props);
    const platform = Platform.fromLayerParameter(this, 'SharedLayer', props.environmentName);
    this.greeting = new ServiceFunction(this, 'Greeting', {
      platform,
      service: 'greeting',
      entry: fileURLToPath(new URL('../src/handler.ts', import.meta.url)),
      description: 'says hello, in the words of its config',
    });
    // Signed requests only (SigV4), as the platform's own API takes them.
    const url = this.greeting.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
    new CfnOutput(this, 'GreetingUrl', { value: url.url });
  }
}
