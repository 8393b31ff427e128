import {
  CloudFormationClient,
  DescribeStacksCommand,
  paginateListStackResources,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServerlessCachesCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../cache/iamAuth.ts';
import { driftSection, healthSection, queueSection, type StatusSection } from './status.ts';

/** An ElastiCache Serverless cache as DescribeServerlessCaches reports it: state, engine, endpoint, limits. */
export async function serverlessCacheSection(
  client: ElastiCacheClient,
  name: string,
): Promise<StatusSection> {
  try {
    const { ServerlessCaches = [] } = await client.send(
      new DescribeServerlessCachesCommand({ ServerlessCacheName: name }),
    );
    const cache = ServerlessCaches[0];
    if (!cache) return { title: 'cache', lines: [`${name}: not found`], problem: true };
    const limits = cache.CacheUsageLimits;
    const storage =
      limits?.DataStorage?.Maximum !== undefined
        ? `${limits.DataStorage.Maximum} ${limits.DataStorage.Unit ?? 'GB'}`
        : 'no storage limit';
    const ecpu =
      limits?.ECPUPerSecond?.Maximum !== undefined
        ? `${limits.ECPUPerSecond.Maximum} ECPU/s`
        : 'no ECPU limit';
    const endpoint = cache.Endpoint ? `${cache.Endpoint.Address}:${cache.Endpoint.Port}` : 'no endpoint yet';
    return {
      title: 'cache',
      lines: [
        `${name}: ${cache.Status ?? 'unknown'}, ${cache.Engine ?? '?'} ${cache.FullEngineVersion ?? cache.MajorEngineVersion ?? ''}`.trim(),
        `endpoint ${endpoint}; limits ${storage}, ${ecpu}; snapshots kept ${cache.SnapshotRetentionLimit ?? 0} day(s)`,
      ],
      problem: cache.Status !== 'available',
    };
  } catch (error) {
    return { title: 'cache', lines: [`${name}: not described: ${(error as Error).message}`], problem: true };
  }
}

/** The latest ApproximateAgeOfOldestMessage of a queue over the last 10 minutes, in ms. */
async function oldestAge(client: CloudWatchClient, queueName: string): Promise<number | undefined> {
  const now = Date.now();
  const { MetricDataResults = [] } = await client.send(
    new GetMetricDataCommand({
      StartTime: new Date(now - 10 * 60_000),
      EndTime: new Date(now),
      MetricDataQueries: [
        {
          Id: 'age',
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: queueName }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        },
      ],
    }),
  );
  const value = MetricDataResults[0]?.Values?.[0];
  return value === undefined ? undefined : value * 1_000;
}

/** The status of the stack deployed as `stackName`, with the credentials and region of the environment. */
export async function deployedStatus(options: {
  stackName: string;
  env: string;
  configDir: string;
  region?: string;
}): Promise<StatusSection[]> {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('--deployed needs a region: set AWS_REGION or pass --region');
  const config = { region };
  const cloudFormation = new CloudFormationClient(config);
  const sqs = new SQSClient(config);
  const ssm = new SSMClient(config);
  const cloudWatch = new CloudWatchClient(config);
  const elastiCache = new ElastiCacheClient(config);
  try {
    const { Stacks = [] } = await cloudFormation.send(
      new DescribeStacksCommand({ StackName: options.stackName }),
    );
    const stack = Stacks[0];
    const sections: StatusSection[] = [
      {
        title: 'stack',
        lines: [`${options.stackName}: ${stack?.StackStatus ?? 'not found'}`],
        problem: !stack?.StackStatus?.endsWith('_COMPLETE'),
      },
    ];
    const resources: { type: string; id: string }[] = [];
    for await (const page of paginateListStackResources(
      { client: cloudFormation },
      { StackName: options.stackName },
    )) {
      for (const r of page.StackResourceSummaries ?? [])
        resources.push({ type: r.ResourceType!, id: r.PhysicalResourceId! });
    }
    const queues = [];
    const byArn = new Map<string, string>();
    for (const { id: url } of resources.filter((r) => r.type === 'AWS::SQS::Queue')) {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'RedrivePolicy'] }),
      );
      byArn.set(Attributes.QueueArn!, url);
      queues.push({ name: url.split('/').pop()!, url, redrive: Attributes.RedrivePolicy });
    }
    sections.push(
      await queueSection(
        sqs,
        queues.map((q) => {
          const target = q.redrive
            ? (JSON.parse(q.redrive) as { deadLetterTargetArn: string }).deadLetterTargetArn
            : undefined;
          const deadLetterUrl = target ? byArn.get(target) : undefined;
          return { name: q.name, url: q.url, ...(deadLetterUrl ? { deadLetterUrl } : {}) };
        }),
        (q) => oldestAge(cloudWatch, q.name),
      ),
    );
    sections.push(await driftSection(ssm, options.configDir, options.env));
    for (const { id } of resources.filter((r) => r.type === 'AWS::ElastiCache::ServerlessCache'))
      sections.push(await serverlessCacheSection(elastiCache, id));
    sections.push({
      title: 'circuits',
      lines: [
        "kept in the cache inside the VPC, out of reach from here: see the dashboard's circuit widgets and alarm",
      ],
      problem: false,
    });
    const api = stack?.Outputs?.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
    if (api) sections.push(await healthSection(() => signedGet(`${api.replace(/\/$/, '')}/health`, region)));
    return sections;
  } finally {
    for (const client of [cloudFormation, sqs, ssm, cloudWatch, elastiCache]) client.destroy();
  }
}

/** A GET signed for API Gateway (`execute-api`), as the IAM-authorized routes require. */
async function signedGet(url: string, region: string): Promise<Response> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: defaultProvider(),
    sha256: NodeSha256,
  });
  const signed = await signer.sign({
    method: 'GET',
    protocol: target.protocol,
    hostname: target.hostname,
    path: target.pathname,
    headers: { host: target.host },
  });
  return fetch(url, {
    headers: signed.headers as Record<string, string>,
    signal: AbortSignal.timeout(10_000),
  });
}
