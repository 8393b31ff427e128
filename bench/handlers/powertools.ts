// (b) The same handler as the Powertools documentation builds it: middy, logger, tracer, metrics, Parameters.
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';

const logger = new Logger();
const tracer = new Tracer();
const metrics = new Metrics({ namespace: 'bench' });
const body = z.object({ name: z.string() });
const configSchema = z.object({ greeting: z.string() });

export const handler = middy(
  async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const config = configSchema.parse(
      await getParameter(`/config/${process.env.LAMBDA_INFRA_ENV}/${process.env.LAMBDA_INFRA_SERVICE}/http`, {
        transform: 'json',
        maxAge: 60,
      }),
    );
    const parsed = body.safeParse(JSON.parse(event.body ?? '{}'));
    if (!parsed.success) return { statusCode: 400, body: JSON.stringify({ errors: parsed.error.issues }) };
    metrics.addMetric('EventsHandled', 'Count', 1);
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: `${config.greeting}, ${parsed.data.name}` }),
    };
  },
)
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
