import { SQSClient } from '@aws-sdk/client-sqs';
import type { HealthCheck } from '../health/index.ts';
import { readQueueDepth } from './queues.ts';

export interface QueueHealthOptions {
  queueUrl: string;
  /** Its dead-letter queue: any message there degrades the service, naming how many wait. */
  deadLetterQueueUrl?: string;
  /** Default: one from AWS_ENDPOINT_URL(_SQS), with no SDK retries, so a check that fails says so at once. */
  client?: SQSClient;
  /** A queue that cannot be reached makes the service unhealthy; default true (its messages cannot be sent). */
  critical?: boolean;
  timeoutMs?: number;
}

const nameOf = (url: string) => url.split('/').at(-1) ?? url;

/**
 * Queue health from GetQueueAttributes: the queue's depth (visible, in flight, delayed) and its dead-letter
 * queue's, degraded while any dead letter waits, unhealthy when the queue does not answer.
 */
export function queueHealthCheck(options: QueueHealthOptions): HealthCheck {
  let client = options.client;
  const depth = async (url: string) => {
    client ??= new SQSClient({
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
    });
    return readQueueDepth(client, url);
  };
  return {
    name: 'queue',
    critical: options.critical ?? true,
    timeoutMs: options.timeoutMs ?? 2_000,
    async check() {
      const [{ visible, inFlight, delayed }, dead] = await Promise.all([
        depth(options.queueUrl),
        options.deadLetterQueueUrl ? depth(options.deadLetterQueueUrl) : undefined,
      ]);
      const parts = [
        `${nameOf(options.queueUrl)}: ${visible} visible, ${inFlight} in flight, ${delayed} delayed`,
      ];
      const deadLetters = dead ? dead.visible + dead.inFlight + dead.delayed : 0;
      if (options.deadLetterQueueUrl) parts.push(`dead letters: ${deadLetters}`);
      return { status: deadLetters > 0 ? 'degraded' : 'healthy', message: parts.join('; ') };
    },
  };
}
