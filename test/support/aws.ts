import { SSMClient } from '@aws-sdk/client-ssm';

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
