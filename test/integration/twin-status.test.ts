import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { serverlessCacheSection } from '@lambda-infra/shared/local/twin/deployed';
import { formatStatus, redisSections } from '@lambda-infra/shared/local/twin/status';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `lambda-infra status` for a deployed stack reads the cache through ElastiCache's API: here against responses
// recorded in the API's own XML (awsquery protocol), served over HTTP to the real SDK client.
const recorded = (
  status: string,
) => `<DescribeServerlessCachesResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <DescribeServerlessCachesResult>
    <ServerlessCaches>
      <member>
        <ServerlessCacheName>lambda-infra-dev</ServerlessCacheName>
        <Description>lambda-infra dev cache</Description>
        <CreateTime>2026-11-30T10:00:00.000Z</CreateTime>
        <Status>${status}</Status>
        <Engine>valkey</Engine>
        <MajorEngineVersion>8</MajorEngineVersion>
        <FullEngineVersion>8.1</FullEngineVersion>
        <CacheUsageLimits>
          <DataStorage><Maximum>1</Maximum><Unit>GB</Unit></DataStorage>
          <ECPUPerSecond><Maximum>5000</Maximum></ECPUPerSecond>
        </CacheUsageLimits>
        <SecurityGroupIds><member>sg-0123</member></SecurityGroupIds>
        <Endpoint><Address>lambda-infra-dev-x1y2z3.serverless.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint>
        <ReaderEndpoint><Address>lambda-infra-dev-x1y2z3.serverless.use1.cache.amazonaws.com</Address><Port>6380</Port></ReaderEndpoint>
        <ARN>arn:aws:elasticache:us-east-1:123456789012:serverlesscache:lambda-infra-dev</ARN>
        <UserGroupId>lambda-infra-dev</UserGroupId>
        <SubnetIds><member>subnet-1</member><member>subnet-2</member></SubnetIds>
        <SnapshotRetentionLimit>1</SnapshotRetentionLimit>
        <DailySnapshotTime>03:00</DailySnapshotTime>
      </member>
    </ServerlessCaches>
  </DescribeServerlessCachesResult>
  <ResponseMetadata><RequestId>9f0e2d57-0000-4c1b-9d7e-000000000001</RequestId></ResponseMetadata>
</DescribeServerlessCachesResponse>`;

const NOT_FOUND = `<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <Error><Type>Sender</Type><Code>ServerlessCacheNotFoundFault</Code><Message>Serverless cache lambda-infra-gone not found</Message></Error>
  <RequestId>9f0e2d57-0000-4c1b-9d7e-000000000002</RequestId>
</ErrorResponse>`;

let server: Server;
let client: ElastiCacheClient;
const requests: URLSearchParams[] = [];
let answer = { status: 200, body: recorded('available') };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      requests.push(new URLSearchParams(body));
      res.writeHead(answer.status, { 'content-type': 'text/xml' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  client = new ElastiCacheClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
});
afterAll(() => {
  client.destroy();
  server.close();
});

describe("status of a deployed stack's ElastiCache Serverless cache", () => {
  it('asks for the cache by name and shows its state, engine, endpoint and limits', async () => {
    answer = { status: 200, body: recorded('available') };
    const section = await serverlessCacheSection(client, 'lambda-infra-dev');
    expect(requests.at(-1)?.get('Action')).toBe('DescribeServerlessCaches');
    expect(requests.at(-1)?.get('ServerlessCacheName')).toBe('lambda-infra-dev');
    expect(section).toEqual({
      title: 'cache',
      lines: [
        'lambda-infra-dev: available, valkey 8.1',
        'endpoint lambda-infra-dev-x1y2z3.serverless.use1.cache.amazonaws.com:6379; limits 1 GB, 5000 ECPU/s; snapshots kept 1 day(s)',
      ],
      problem: false,
    });
  });

  it('flags a cache that is not available, and one that is not found, with what the API said', async () => {
    answer = { status: 200, body: recorded('modifying') };
    expect(await serverlessCacheSection(client, 'lambda-infra-dev')).toMatchObject({
      problem: true,
      lines: [expect.stringContaining('lambda-infra-dev: modifying'), expect.any(String)],
    });
    answer = { status: 404, body: NOT_FOUND };
    expect(await serverlessCacheSection(client, 'lambda-infra-gone')).toEqual({
      title: 'cache',
      lines: ['lambda-infra-gone: not described: Serverless cache lambda-infra-gone not found'],
      problem: true,
    });
  });
});

describe('status of the circuits kept in Redis', () => {
  it('lists each circuit with its state and when it probes, and flags an open one', async () => {
    const prefix = `status-test-${randomUUID().slice(0, 8)}`;
    const redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    try {
      await redis.hSet(`${prefix}:events-api:breaker:{events-db}`, {
        state: 'open',
        openUntil: String(Date.now() + 30_000),
      });
      await redis.hSet(`${prefix}:events-worker:breaker:{sqs}`, { state: 'closed', openUntil: '0' });
      const [cache, circuits] = await redisSections('redis://127.0.0.1:6379');
      expect(cache).toMatchObject({
        title: 'cache',
        problem: false,
        lines: [expect.stringMatching(/PING \d+\.\d ms, \d+ keys/)],
      });
      expect(circuits!.problem).toBe(true);
      expect(circuits!.lines).toContainEqual(
        expect.stringMatching(
          new RegExp(`^circuit events-db \\(${prefix}:events-api\\): open, probes in (29|30) s$`),
        ),
      );
      expect(circuits!.lines).toContain(`circuit sqs (${prefix}:events-worker): closed`);
      expect(formatStatus('x', [circuits!]).join('\n')).toMatch(/^x\n! circuits\n {4}circuit/);
    } finally {
      await redis.del([`${prefix}:events-api:breaker:{events-db}`, `${prefix}:events-worker:breaker:{sqs}`]);
      await redis.close();
    }
  });

  it('says the cache is not reachable, and the circuits unknown, when Redis does not answer', async () => {
    const [cache, circuits] = await redisSections('redis://127.0.0.1:1');
    expect(cache).toMatchObject({ problem: true, lines: [expect.stringContaining('not reachable')] });
    expect(circuits).toMatchObject({ problem: true, lines: [expect.stringContaining('unknown')] });
  });
});
