import { App } from 'aws-cdk-lib';
import { GreetingServiceStack } from '../lib/GreetingServiceStack.ts';

// `npx cdk deploy -c env=dev` from this folder, once the platform's stack is deployed in the same account and region.
const app = new App();
const env = (app.node.tryGetContext('env') as string | undefined) ?? 'dev';
new GreetingServiceStack(app, `greeting-service-${env}`, { environmentName: env });
app.synth();
