import { Duration } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface EventQueueProps {
  /**
   * Deliveries before a message moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * The timeout of the function that consumes it: the visibility timeout is six times this.
   * @default Duration.seconds(30)
   */
  readonly consumerTimeout?: Duration;
  /**
   * A FIFO queue (and dead-letter queue), with content-based deduplication.
   * @default false
   */
  readonly fifo?: boolean;
}

export interface ConsumeOptions {
  /** @default 10 */
  readonly batchSize?: number;
  /**
   * How long the mapping gathers a batch; FIFO queues take none.
   * @default Duration.seconds(1), none for a FIFO queue
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent invocations the event source mapping may use (2-1000): what a backlog may ask of the database.
   * @default 2
   */
  readonly maxConcurrency?: number;
}

/** SQS keeps a dead letter at most 14 days: the longest time to look at it and redrive it. */
export const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * A queue and its dead-letter queue: both encrypted and TLS-only, a redrive policy, and a visibility timeout
 * that outlasts every retry of a batch by the consuming function. It grants each side exactly what the library's
 * publisher and consumer call.
 */
export class EventQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly fifo: boolean;

  constructor(scope: Construct, id: string, props: EventQueueProps = {}) {
    super(scope, id);
    this.fifo = props.fifo ?? false;
    // A FIFO queue's dead-letter queue must be FIFO too.
    const fifo = this.fifo ? { fifo: true, contentBasedDeduplication: true } : {};
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
      ...fifo,
    });
    // AWS's guidance: at least six times the function's timeout, so a batch retried by the poller does not
    // become visible again while it is still being handled.
    const consumerTimeout = props.consumerTimeout ?? Duration.seconds(30);
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
      ...fifo,
    });
  }

  /** What `createPublisher` calls: SendMessage, and the depths for `/health` (of the dead-letter queue too). */
  grantPublish(grantee: IGrantable): void {
    this.queue.grant(grantee, 'sqs:SendMessage', 'sqs:GetQueueAttributes');
    this.deadLetterQueue.grant(grantee, 'sqs:GetQueueAttributes');
  }

  /**
   * Makes `fn` the queue's consumer: partial batch failures reported, batches collected over a window, and
   * concurrency capped so a backlog cannot exhaust the database's connections. The event source mapping gets
   * what it calls; the consumer's own calls (its retry delays, the redrive policy) are among them, and it may
   * send to the dead-letter queue, where it puts what no retry can fix, with the reason.
   */
  consumeWith(fn: IFunction, options: ConsumeOptions = {}): void {
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: options.batchSize ?? 10,
        maxBatchingWindow: options.maxBatchingWindow ?? (this.fifo ? undefined : Duration.seconds(1)),
        maxConcurrency: options.maxConcurrency ?? 2,
        reportBatchItemFailures: true,
      }),
    );
    this.deadLetterQueue.grant(fn, 'sqs:SendMessage');
  }
}
