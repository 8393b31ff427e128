import { SSMClient } from '@aws-sdk/client-ssm';
import { type SsmEndpoint, startSsmEndpoint } from '@lambda-infra/shared/local/ssm';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/** An SSM client for a local endpoint; no retries, so that a test sees each error as the endpoint sent it. */
export function ssmClient(endpoint: string, region = 'us-east-1'): SSMClient {
  return new SSMClient({
    endpoint,
    region,
    maxAttempts: 1,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** The rejection of a promise, for asserting on its name and message. */
export async function failure(promise: Promise<unknown>): Promise<Error & { name: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { name: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export interface LocalSsm {
  readonly endpoint: SsmEndpoint;
  readonly ssm: SSMClient;
}

/**
 * A local SSM endpoint of the test file's own, started before its tests and closed after them, emptied and
 * its call counts and faults reset before each test; with an SDK client for it.
 */
export function useSsmEndpoint(region = 'us-east-1'): LocalSsm {
  let endpoint: SsmEndpoint | undefined;
  let ssm: SSMClient | undefined;
  beforeAll(async () => {
    endpoint = await startSsmEndpoint();
    ssm = ssmClient(endpoint.url, region);
  });
  afterAll(async () => {
    ssm?.destroy();
    await endpoint?.close();
  });
  beforeEach(() => {
    endpoint?.store.clear();
    endpoint?.resetCalls();
    endpoint?.clearFaults();
    endpoint?.setThrottle(undefined);
  });
  return {
    get endpoint() {
      if (!endpoint) throw new Error('the SSM endpoint starts in beforeAll; use it inside hooks and tests');
      return endpoint;
    },
    get ssm() {
      if (!ssm) throw new Error('the SSM client is made in beforeAll; use it inside hooks and tests');
      return ssm;
    },
  };
}
