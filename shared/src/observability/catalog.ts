import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { invocationMetrics } from './metrics.ts';
import { correlationScope } from './scope.ts';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

interface MetricDefinition {
  readonly name: string;
  readonly unit: Unit;
  readonly description: string;
}

/**
 * Every metric the shared layer emits, by one name each, so that handlers, alarms and dashboards agree.
 * The CDK app reads the same table.
 */
export const metricCatalog = {
  published: { name: 'EventsPublished', unit: MetricUnit.Count, description: 'messages sent to a queue' },
  handled: { name: 'EventsHandled', unit: MetricUnit.Count, description: 'messages or requests handled' },
  handlingDuration: {
    name: 'EventHandlingDuration',
    unit: MetricUnit.Milliseconds,
    description: 'time to handle one message or request',
  },
  errors: { name: 'EventErrors', unit: MetricUnit.Count, description: 'handling failures, by error type' },
  retried: { name: 'EventsRetried', unit: MetricUnit.Count, description: 'messages returned for a retry' },
  deadLettered: {
    name: 'EventsDeadLettered',
    unit: MetricUnit.Count,
    description: 'messages sent to a dead-letter queue',
  },
  reprocessed: {
    name: 'EventsReprocessed',
    unit: MetricUnit.Count,
    description: 'messages redriven from a dead-letter queue',
  },
  stored: { name: 'EventsStored', unit: MetricUnit.Count, description: 'events written to the event store' },
  configRefreshFailed: {
    name: 'ConfigRefreshFailed',
    unit: MetricUnit.Count,
    description: 'config refreshes that failed or brought an invalid value; the last good config stayed',
  },
  configThrottled: {
    name: 'ConfigThrottled',
    unit: MetricUnit.Count,
    description: 'config loads that SSM still throttled after every retry',
  },
  cacheHits: {
    name: 'CacheHits',
    unit: MetricUnit.Count,
    description: 'cache reads answered, by level (L1, Redis)',
  },
  cacheMisses: {
    name: 'CacheMisses',
    unit: MetricUnit.Count,
    description: 'cache reads not answered, by level',
  },
  cacheErrors: {
    name: 'CacheErrors',
    unit: MetricUnit.Count,
    description: 'cache commands that failed (served as misses or skipped writes)',
  },
  cacheCommandLatency: {
    name: 'CacheCommandLatency',
    unit: MetricUnit.Milliseconds,
    description: 'mean time of a cache command over one invocation',
  },
  dbQueryDuration: {
    name: 'DbQueryDuration',
    unit: MetricUnit.Milliseconds,
    description: 'time of one database statement, round trip included',
  },
  dbErrors: {
    name: 'DbErrors',
    unit: MetricUnit.Count,
    description: 'database statements or connection attempts that failed',
  },
  breakerState: {
    name: 'BreakerState',
    unit: MetricUnit.Count,
    description: 'state of a circuit on each change: 0 closed, 1 half-open, 2 open, 3 isolated',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof metricCatalog;

/** Dimensions a metric may carry; few and of low cardinality, since each value is its own CloudWatch series. */
export type MetricDimensions = Partial<
  Record<'eventType' | 'queue' | 'errorType' | 'component' | 'level' | 'breaker', string>
>;

/**
 * Records one catalog metric. Without dimensions it joins the invocation's buffer (flushed by the handler's
 * metrics middleware); with dimensions it is written at once as its own EMF line.
 */
export function recordMetric(key: MetricKey, value = 1, dimensions?: MetricDimensions): void {
  const { name, unit } = metricCatalog[key];
  const entries = dimensions ? Object.entries(dimensions).filter(([, v]) => v) : [];
  if (entries.length === 0) {
    invocationMetrics.add(name, unit, value);
    return;
  }
  // A line of its own can name the record it is about (metadata, not a dimension: no series per id).
  const correlationId = correlationScope.getStore();
  invocationMetrics.single(
    name,
    unit,
    value,
    Object.fromEntries(entries) as Record<string, string>,
    correlationId === undefined ? undefined : { correlationId },
  );
}

/** The catalog as typed helpers: `eventMetrics.handled()`, `eventMetrics.handlingDuration(12.5)`, … */
export const eventMetrics = {
  published: (count = 1, dimensions?: MetricDimensions) => recordMetric('published', count, dimensions),
  handled: (count = 1, dimensions?: MetricDimensions) => recordMetric('handled', count, dimensions),
  handlingDuration: (ms: number, dimensions?: MetricDimensions) =>
    recordMetric('handlingDuration', ms, dimensions),
  errors: (errorType: string, count = 1, dimensions?: MetricDimensions) =>
    recordMetric('errors', count, { ...dimensions, errorType }),
  retried: (count = 1, dimensions?: MetricDimensions) => recordMetric('retried', count, dimensions),
  deadLettered: (count = 1, dimensions?: MetricDimensions) => recordMetric('deadLettered', count, dimensions),
  reprocessed: (count = 1, dimensions?: MetricDimensions) => recordMetric('reprocessed', count, dimensions),
  stored: (count = 1, dimensions?: MetricDimensions) => recordMetric('stored', count, dimensions),
};

const sources = new Set<() => void>();

/**
 * Registers something that records its counters as metrics once per invocation, just before the handler's
 * metrics are published, instead of one EMF line per operation. Returns the unregister function.
 */
export function registerMetricsSource(record: () => void): () => void {
  sources.add(record);
  return () => sources.delete(record);
}

/** Lets every registered source record its metrics; the handler base calls it at the end of each invocation. */
export function recordRegisteredMetrics(): void {
  for (const record of sources) record();
}
