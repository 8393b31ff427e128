// (a) What a team writes without a framework: the SDK called directly, config cached by hand.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const ssm = new SSMClient({});
let config: { greeting: string } | undefined;
let loadedAt = 0;

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  if (!config || Date.now() - loadedAt > 60_000) {
    const { Parameter } = await ssm.send(
      new GetParameterCommand({
        Name: `/config/${process.env.LAMBDA_INFRA_ENV}/${process.env.LAMBDA_INFRA_SERVICE}/http`,
      }),
    );
    config = JSON.parse(Parameter?.Value ?? '{}') as { greeting: string };
    loadedAt = Date.now();
  }
  const body = JSON.parse(event.body ?? '{}') as { name?: unknown };
  if (typeof body.name !== 'string') {
    return { statusCode: 400, body: JSON.stringify({ message: 'name must be a string' }) };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `${config.greeting}, ${body.name}` }),
  };
};
