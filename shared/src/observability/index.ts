export {
  eventMetrics,
  type MetricDimensions,
  type MetricKey,
  metricCatalog,
  recordMetric,
} from './catalog.ts';
export {
  CORRELATION_ATTRIBUTE,
  CORRELATION_HEADER,
  correlationAttributes,
  correlationIdFromEvent,
  correlationIdFromRecord,
  getCorrelationId,
  setCorrelationId,
} from './correlation.ts';
export { logger, metrics, tracer } from './powertools.ts';
