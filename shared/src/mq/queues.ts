import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** arn:aws:sqs:{region}:{account}:{name} -> name and account. */
export function parseQueueArn(arn: string): { name: string; account: string } {
  const parts = arn.split(':');
  return { name: parts[5] ?? arn, account: parts[4] ?? '' };
}

/**
 * Queue ARN -> queue URL, asked of SQS once per ARN (so it works against AWS and local endpoints alike); a
 * failed lookup is forgotten, so the next call asks again.
 */
export function queueUrlResolver(client: SQSClient | (() => SQSClient)): (arn: string) => Promise<string> {
  const urls = new Map<string, Promise<string>>();
  return (arn) => {
    let url = urls.get(arn);
    if (!url) {
      const { name, account } = parseQueueArn(arn);
      url = (typeof client === 'function' ? client() : client)
        .send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }))
        .then((r) => r.QueueUrl!);
      url.catch(() => urls.delete(arn));
      urls.set(arn, url);
    }
    return url;
  };
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

/** A queue's depth from GetQueueAttributes: visible, in flight (received, not yet deleted) and delayed. */
export async function readQueueDepth(client: SQSClient, queueUrl: string): Promise<QueueDepth> {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}
