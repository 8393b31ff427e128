import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startTwin, type Twin } from '@lambda-infra/shared/local/twin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../shared/src/cli/main.ts';
import { until } from '../support/sqs.ts';

// A stack that is not ours, written as CloudFormation would have it (a FIFO queue with a FIFO dead-letter
// queue, intrinsic functions in parameters and variables, a function that times out, no database or cache):
// the twin runs whatever the template says, not only the reference pipeline.
const DIR = mkdtempSync(join(tmpdir(), 'lambda-infra-twin-fifo-'));
chmodSync(DIR, 0o755);
const ASSEMBLY = join(DIR, 'cdk.out');
const RECEIVED = join(DIR, 'received.jsonl');
const EVENT_FILE = join(DIR, 'env-event.json');
writeFileSync(EVENT_FILE, JSON.stringify({ rawPath: '/env' }));

const PRODUCER = `
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
const sqs = new SQSClient({});
export const handler = async (event) => {
  if (event.rawPath === '/env') return { statusCode: 200, body: JSON.stringify(process.env) };
  const body = JSON.parse(event.body);
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE_URL, MessageBody: JSON.stringify(body), MessageGroupId: body.group }));
  return { statusCode: 202, body: JSON.stringify({ id: sent.MessageId }) };
};`;
const CONSUMER = `
import { appendFileSync } from 'node:fs';
export const handler = async (event) => {
  const failures = [];
  for (const record of event.Records) {
    const body = JSON.parse(record.body);
    appendFileSync(process.env.OUT_FILE, JSON.stringify({ ...body, receive: Number(record.attributes.ApproximateReceiveCount), group: record.attributes.MessageGroupId }) + '\\n');
    if (body.fail) failures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures: failures };
};`;
const SLOW =
  'export const handler = async () => { await new Promise((r) => setTimeout(r, 10_000)); return { statusCode: 200 }; };';

function fn(asset: string, timeout: number, variables: Record<string, unknown>) {
  return {
    Type: 'AWS::Lambda::Function',
    Properties: {
      Code: { S3Bucket: 'b', S3Key: `${asset}.zip` },
      Handler: 'index.handler',
      Runtime: 'nodejs24.x',
      Timeout: timeout,
      MemorySize: 256,
      Environment: { Variables: variables },
    },
    Metadata: { 'aws:asset:path': `asset.${asset}`, 'aws:cdk:path': `fifo-stack/${asset}/Resource` },
  };
}

const integration = (id: string) => ({
  Type: 'AWS::ApiGatewayV2::Integration',
  Properties: {
    ApiId: { Ref: 'Api' },
    IntegrationType: 'AWS_PROXY',
    IntegrationUri: { 'Fn::GetAtt': [id, 'Arn'] },
    PayloadFormatVersion: '2.0',
  },
});
const route = (key: string, integrationId: string) => ({
  Type: 'AWS::ApiGatewayV2::Route',
  Properties: {
    ApiId: { Ref: 'Api' },
    RouteKey: key,
    AuthorizationType: 'NONE',
    Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
  },
});

const template = {
  Resources: {
    Dlq: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } },
    Queue: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        FifoQueue: true,
        ContentBasedDeduplication: true,
        VisibilityTimeout: 1,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 2 },
      },
    },
    Settings: {
      Type: 'AWS::SSM::Parameter',
      Properties: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not JavaScript's.
        Name: { 'Fn::Sub': '/config/${AWS::StackName}/settings' },
        Type: 'String',
        Value: '{"mode":"fifo"}',
      },
    },
    producer: fn('producer', 3, {
      QUEUE_URL: { Ref: 'Queue' },
      QUEUE_ARN: { 'Fn::GetAtt': ['Queue', 'Arn'] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not JavaScript's.
      GREETING: { 'Fn::Sub': 'hello from ${AWS::StackName} in ${AWS::Region}' },
    }),
    consumer: fn('consumer', 3, { OUT_FILE: RECEIVED }),
    slow: fn('slow', 1, {}),
    Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'fifo', ProtocolType: 'HTTP' } },
    ProducerIntegration: integration('producer'),
    SlowIntegration: integration('slow'),
    SendRoute: route('POST /send', 'ProducerIntegration'),
    EnvRoute: route('GET /env', 'ProducerIntegration'),
    SlowRoute: route('GET /slow', 'SlowIntegration'),
    Mapping: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        EventSourceArn: { 'Fn::GetAtt': ['Queue', 'Arn'] },
        FunctionName: { Ref: 'consumer' },
        BatchSize: 5,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 2 },
      },
    },
  },
};

let twin: Twin;
const lines: string[] = [];

beforeAll(async () => {
  mkdirSync(ASSEMBLY);
  writeFileSync(
    join(ASSEMBLY, 'manifest.json'),
    JSON.stringify({
      version: '48.0.0',
      artifacts: {
        'fifo-stack': {
          type: 'aws:cloudformation:stack',
          properties: { templateFile: 'fifo-stack.template.json' },
        },
      },
    }),
  );
  writeFileSync(join(ASSEMBLY, 'fifo-stack.template.json'), JSON.stringify(template));
  for (const [name, code] of [
    ['producer', PRODUCER],
    ['consumer', CONSUMER],
    ['slow', SLOW],
  ] as const) {
    mkdirSync(join(ASSEMBLY, `asset.${name}`));
    writeFileSync(join(ASSEMBLY, `asset.${name}`, 'index.mjs'), code);
  }
  // A config folder with one SecureString, as infra/config keeps them (git-ignored, never in the template).
  mkdirSync(join(DIR, 'config', 'fifo', 'producer'), { recursive: true });
  writeFileSync(
    join(DIR, 'config', 'fifo', 'producer', 'token.secure.json'),
    JSON.stringify({ token: 's3cret' }),
  );
  twin = await startTwin({
    env: 'fifo',
    port: 0,
    cloudAssembly: ASSEMBLY,
    configDir: join(DIR, 'config'),
    stateDir: join(DIR, 'state'),
    out: (l) => lines.push(l),
  });
}, 60_000);

afterAll(async () => {
  await twin?.stop();
  rmSync(DIR, { recursive: true, force: true });
});

const sqs = () => new SQSClient({ endpoint: twin.state.sqs, region: twin.state.region });
const received = () =>
  existsSync(RECEIVED)
    ? readFileSync(RECEIVED, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { n: number; group: string; receive: number; fail?: boolean })
    : [];

describe('the twin of a template that is not the reference stack', () => {
  it('starts no database or cache when the template has none, and says so', () => {
    expect(lines.join('\n')).toMatch(/database +none: the template has no database/);
    expect(lines.join('\n')).toMatch(/cache +none: the template has no cache/);
    expect(twin.state.pids).toHaveLength(1);
  });

  it('makes FIFO queues with their attributes and the redrive policy to a FIFO dead-letter queue', async () => {
    const client = sqs();
    const queue = twin.state.queues.find((q) => q.logicalId === 'Queue')!;
    expect(queue.name).toBe('fifo-stack-Queue.fifo');
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }),
    );
    client.destroy();
    expect(Attributes).toMatchObject({
      FifoQueue: 'true',
      ContentBasedDeduplication: 'true',
      VisibilityTimeout: '1',
    });
    expect(JSON.parse(Attributes!.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: twin.state.queues.find((q) => q.logicalId === 'Dlq')!.arn,
      maxReceiveCount: 2,
    });
  });

  it('resolves Ref, Fn::GetAtt and Fn::Sub in variables and parameters, and gives functions nothing of the caller', async () => {
    const env = (await (await fetch(`${twin.state.http}/env`)).json()) as Record<string, string>;
    const queue = twin.state.queues.find((q) => q.logicalId === 'Queue')!;
    expect(env).toMatchObject({
      QUEUE_URL: queue.url,
      QUEUE_ARN: queue.arn,
      GREETING: 'hello from fifo-stack in us-east-1',
      AWS_ENDPOINT_URL_SQS: twin.state.sqs,
      AWS_ACCESS_KEY_ID: 'local',
    });
    expect(env.POWERTOOLS_DEV).toBeUndefined(); // set in this test process, not in the function's
    const ssm = new SSMClient({ endpoint: twin.state.ssm, region: twin.state.region });
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/config/fifo-stack/settings' }));
    expect(Parameter?.Value).toBe('{"mode":"fifo"}');
    const secure = await ssm.send(
      new GetParameterCommand({ Name: '/config/fifo/producer/token', WithDecryption: true }),
    );
    expect(secure.Parameter).toMatchObject({ Type: 'SecureString', Value: '{"token":"s3cret"}' });
    expect(lines.join('\n')).toMatch(
      /1 parameter\(s\) of the template, 1 SecureString\(s\) of infra\/config/,
    );
    ssm.destroy();
  });

  it('delivers a message group in order through the mapping, and dead-letters a failing one after maxReceiveCount', async () => {
    for (let n = 1; n <= 6; n++) {
      const sent = await fetch(`${twin.state.http}/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n, group: 'a' }),
      });
      expect(sent.status).toBe(202);
    }
    await fetch(`${twin.state.http}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 99, group: 'b', fail: true }),
    });
    await until(() => received().filter((r) => r.group === 'a').length === 6, 20_000);
    expect(
      received()
        .filter((r) => r.group === 'a')
        .map((r) => r.n),
    ).toEqual([1, 2, 3, 4, 5, 6]);
    // Delivered twice (maxReceiveCount 2), then moved by the queue's redrive policy.
    const client = sqs();
    const dlq = twin.state.queues.find((q) => q.logicalId === 'Dlq')!;
    let dead: string[] = [];
    await until(async () => {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1 }),
      );
      dead = Messages.map((m) => m.Body!);
      return dead.length > 0;
    }, 20_000);
    client.destroy();
    expect(JSON.parse(dead[0]!)).toMatchObject({ n: 99, fail: true });
    expect(
      received()
        .filter((r) => r.n === 99)
        .map((r) => r.receive),
    ).toEqual([1, 2]);
    expect(lines.join('\n')).toMatch(/consumer +- +message \S+ -> failed on delivery 2 of 2/);
  }, 60_000);

  it("serves Lambda's Invoke API: by name, qualified name or ARN, async and dry runs, and its errors", async () => {
    const invoke = (target: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${twin.state.lambda}/2015-03-31/functions/${encodeURIComponent(target)}/invocations`, {
        method: 'POST',
        headers,
        body,
      });
    const event = JSON.stringify({ rawPath: '/env' });
    for (const target of [
      'producer',
      'producer:$LATEST',
      'arn:aws:lambda:us-east-1:000000000000:function:producer',
    ]) {
      const response = await invoke(target, event);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ statusCode: 200 });
    }
    expect((await invoke('producer', event, { 'x-amz-invocation-type': 'Event' })).status).toBe(202);
    expect((await invoke('producer', event, { 'x-amz-invocation-type': 'DryRun' })).status).toBe(204);
    const unknown = await invoke('nope', event);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('ResourceNotFoundException');
    const bad = await invoke('producer', '{not json');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-amzn-errortype')).toBe('InvalidRequestContentException');
    const failed = await invoke('producer', JSON.stringify({ rawPath: '/send', body: 'not json' }));
    expect(failed.status).toBe(200);
    expect(failed.headers.get('x-amz-function-error')).toBe('Unhandled');
    expect(await failed.json()).toMatchObject({ errorType: 'SyntaxError' });
    expect((await fetch(`${twin.state.lambda}/2015-03-31/functions`)).status).toBe(404);
  });

  it('invokes a function alone with no twin running: literal and pseudo-parameter values, the rest named as unset', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const previous = process.env.GREETING;
    const code = await main(
      [
        'invoke',
        'producer',
        '--env',
        'fifo',
        '--state-dir',
        join(DIR, 'no-twin'),
        '--cloud-assembly',
        ASSEMBLY,
        '--event',
        EVENT_FILE,
      ],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    expect(previous).toBeUndefined();
    expect(code).toBe(0);
    const env = JSON.parse((JSON.parse(out.join('')) as { body: string }).body) as Record<string, string>;
    expect(env.GREETING).toBe('hello from fifo-stack in us-east-1');
    expect(env.QUEUE_URL).toBeUndefined();
    expect(err.join('\n')).toMatch(/QUEUE_URL left unset: it refers to Ref Queue/);
  });

  it('stops a function at its timeout and answers 500, as API Gateway does when Lambda fails', async () => {
    const started = Date.now();
    const response = await fetch(`${twin.state.http}/slow`);
    expect(response.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines.join('\n')).toMatch(
      /slow +- +GET \/slow -> 500 in \d+ ms \(cold start\) +Sandbox\.Timedout: Task timed out after 1\.00 seconds/,
    );
  });
});
