// (e) POST /events as a team writes it without the library: the same schema, SendMessage called directly.
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { eventInputSchema } from '@lambda-infra/db-migrate/events';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const sqs = new SQSClient({});

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  let body: unknown;
  try {
    body = JSON.parse(event.body ?? '');
  } catch {
    return { statusCode: 400, body: JSON.stringify({ message: 'the body is not JSON' }) };
  }
  const parsed = eventInputSchema.safeParse(body);
  if (!parsed.success) return { statusCode: 400, body: JSON.stringify({ errors: parsed.error.issues }) };
  const id = parsed.data.id ?? crypto.randomUUID();
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: process.env.LAMBDA_INFRA_QUEUE_URL,
      MessageBody: JSON.stringify({ ...parsed.data, id }),
    }),
  );
  return { statusCode: 202, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) };
};
