import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** What differs between environments; everything else is the same secure default in both. */
export interface EnvironmentSettings {
  /** Log groups of the functions, the API and the VPC flow logs. */
  logRetention: RetentionDays;
  /** What happens to data stores when the stack is deleted. */
  removalPolicy: RemovalPolicy;
  /**
   * Availability zones of the VPC. The stack is environment-agnostic (synth needs no account), and such a stack
   * sees two zones; give it an account and region to use more.
   */
  network: { maxAzs: number };
  queue: {
    /** Deliveries before a message moves to its dead-letter queue. */
    maxReceiveCount: number;
    batchSize: number;
    maxBatchingWindow: Duration;
    /** Concurrent invocations the event source mapping may use (2-1000). */
    maxConcurrency: number;
  };
  cache: { maxDataStorageGb: number; maxEcpuPerSecond: number; snapshotRetentionDays: number };
  db: {
    minCapacity: number;
    maxCapacity: number;
    deletionProtection: boolean;
    backupRetention: Duration;
  };
  functions: { memorySize: number; timeout: Duration };
  alarms: {
    /** Age of the oldest message in a source queue. */
    maxMessageAge: Duration;
    /** Errors over invocations, in percent, over 5 minutes. */
    maxErrorRatePercent: number;
    /** p99 duration over 5 minutes, as a share of the function's timeout. */
    maxP99DurationShare: number;
  };
}

export const environments: Record<string, EnvironmentSettings> = {
  dev: {
    logRetention: RetentionDays.ONE_WEEK,
    removalPolicy: RemovalPolicy.DESTROY,
    network: { maxAzs: 2 },
    queue: { maxReceiveCount: 7, batchSize: 10, maxBatchingWindow: Duration.seconds(1), maxConcurrency: 2 },
    cache: { maxDataStorageGb: 1, maxEcpuPerSecond: 5_000, snapshotRetentionDays: 1 },
    db: { minCapacity: 0, maxCapacity: 2, deletionProtection: false, backupRetention: Duration.days(1) },
    functions: { memorySize: 512, timeout: Duration.seconds(10) },
    alarms: { maxMessageAge: Duration.minutes(15), maxErrorRatePercent: 10, maxP99DurationShare: 0.8 },
  },
  prod: {
    logRetention: RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
    network: { maxAzs: 2 },
    queue: { maxReceiveCount: 8, batchSize: 25, maxBatchingWindow: Duration.seconds(2), maxConcurrency: 20 },
    cache: { maxDataStorageGb: 5, maxEcpuPerSecond: 50_000, snapshotRetentionDays: 7 },
    db: { minCapacity: 0.5, maxCapacity: 16, deletionProtection: true, backupRetention: Duration.days(14) },
    functions: { memorySize: 1024, timeout: Duration.seconds(10) },
    alarms: { maxMessageAge: Duration.minutes(5), maxErrorRatePercent: 1, maxP99DurationShare: 0.5 },
  },
};
