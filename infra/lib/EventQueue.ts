import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface EventQueueProps {
  /** Deliveries before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** The timeout of the function that consumes it: the visibility timeout is six times this. */
  consumerTimeout: Duration;
}

/** SQS keeps a dead letter at most 14 days: the longest time to look at it and redrive it. */
export const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * A queue and its dead-letter queue: both encrypted and TLS-only, a redrive policy, and a visibility timeout
 * that outlasts every retry of a batch by the consuming function.
 */
export class EventQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: EventQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    // AWS's guidance: at least six times the function's timeout, so a batch retried by the poller does not
    // become visible again while it is still being handled.
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }

  /**
   * Makes `fn` the queue's consumer: partial batch failures reported, batches collected over a window, and
   * concurrency capped so a backlog cannot exhaust the database's connections.
   */
  consumeWith(
    fn: IFunction,
    options: { batchSize: number; maxBatchingWindow: Duration; maxConcurrency: number },
  ): void {
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: options.batchSize,
        maxBatchingWindow: options.maxBatchingWindow,
        maxConcurrency: options.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}
