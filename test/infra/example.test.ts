// biome-ignore-all lint/suspicious/noExplicitAny: CloudFormation templates are untyped JSON.
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GreetingServiceStack } from '../../examples/greeting-service/lib/GreetingServiceStack.ts';
import { describeFunctionBundle } from '../../infra/lib/bundling.ts';
import { useSsmEndpoint } from '../support/aws.ts';
import { httpEvent } from '../support/events.ts';
import { invokeTask, layOutTask, removeTasks } from '../support/lambda.ts';

// A team's own CDK app, outside the platform's stack: examples/greeting-service.
describe('examples/greeting-service, a service of its own on the platform', () => {
  const ssm = useSsmEndpoint();
  let stack: GreetingServiceStack;
  let template: any;

  beforeAll(() => {
    stack = new GreetingServiceStack(new App(), 'greeting-service-dev', { environmentName: 'dev' });
    template = Template.fromStack(stack).toJSON();
  }, 60_000);
  afterAll(removeTasks);

  it("takes the shared layer's version ARN from the platform's SSM parameter", () => {
    const layerParameters = Object.entries(template.Parameters as Record<string, any>).filter(
      ([, p]) =>
        p.Type === 'AWS::SSM::Parameter::Value<String>' && p.Default === '/lambda-infra/dev/layer/arn',
    );
    const functions = Object.values(template.Resources as Record<string, any>).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );

    expect(layerParameters).toHaveLength(1);
    expect(functions).toHaveLength(1);
    expect(functions[0].Properties.Layers).toEqual([{ Ref: layerParameters[0]![0] }]);
    expect(functions[0].Properties.Environment.Variables).toMatchObject({
      LAMBDA_INFRA_ENV: 'dev',
      LAMBDA_INFRA_SERVICE: 'greeting',
    });
  });

  it('bundles only its own code: the library, zod and the SDK come from the layer and the runtime', () => {
    const bundle = describeFunctionBundle(stack.greeting.bundleDir);

    expect(bundle.packages).toEqual([]);
    expect(bundle.bytes).toBeLessThan(4 * 1024);
  });

  it("runs with the layer's node_modules as Lambda lays them out, its config from SSM", async () => {
    await ssm.endpoint.store.put({
      Name: '/config/dev/greeting/greeting',
      Value: JSON.stringify({ text: 'hi' }),
      Type: 'String',
    });
    const task = await layOutTask('greeting', stack.greeting.bundleDir);
    const env = {
      LAMBDA_INFRA_ENV: 'dev',
      LAMBDA_INFRA_SERVICE: 'greeting',
      AWS_ENDPOINT_URL_SSM: ssm.endpoint.url,
    };

    const hello = await invokeTask(task, httpEvent({ body: { name: 'Ada' } }), env);
    const refused = await invokeTask(task, httpEvent({ body: { name: '' } }), env);

    expect(hello.result.statusCode).toBe(200);
    expect(JSON.parse(hello.result.body)).toEqual({ message: 'hi, Ada' });
    expect(refused.result.statusCode).toBe(400);
    expect(JSON.parse(refused.result.body).errors).toEqual([
      expect.objectContaining({ path: 'name', rule: 'too_small' }),
    ]);
  }, 60_000);
});
