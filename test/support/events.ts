import type { APIGatewayProxyEventV2, Context, SQSRecord } from 'aws-lambda';

let counter = 0;

/** An API Gateway HTTP API (payload 2.0) event, as the service sends it. */
export function httpEvent(
  options: {
    method?: string;
    path?: string;
    body?: unknown;
    headers?: Record<string, string>;
    rawBody?: string;
  } = {},
): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const path = options.path ?? '/events';
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  counter++;
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      host: 'abc.execute-api.us-east-1.amazonaws.com',
      ...options.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'test' },
      requestId: `apigw-request-${counter}`,
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '22/Nov/2026:03:00:00 +0000',
      timeEpoch: 1_795_000_000_000,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

export function lambdaContext(name = 'events-api'): Context {
  counter++;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `lambda-request-${counter}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: '2026/11/22/[$LATEST]abc',
    getRemainingTimeInMillis: () => 10_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** An SQS record as the event source mapping hands it to a function. */
export function sqsRecord(options: {
  messageId: string;
  body: string;
  eventSourceARN: string;
  receiptHandle?: string;
  receiveCount?: number;
  groupId?: string;
  correlationId?: string;
}): SQSRecord {
  return {
    messageId: options.messageId,
    receiptHandle: options.receiptHandle ?? `receipt-${options.messageId}`,
    body: options.body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: '0',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '0',
      ...(options.groupId ? { MessageGroupId: options.groupId } : {}),
    },
    messageAttributes: options.correlationId
      ? {
          correlationId: {
            dataType: 'String',
            stringValue: options.correlationId,
            stringListValues: [],
            binaryListValues: [],
          },
        }
      : {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.eventSourceARN,
    awsRegion: 'us-east-1',
  };
}
