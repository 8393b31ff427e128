export {
  eventMetrics,
  type MetricDimensions,
  type MetricKey,
  metricCatalog,
  recordMetric,
  recordRegisteredMetrics,
  registerMetricsSource,
} from './catalog.ts';
export {
  CORRELATION_ATTRIBUTE,
  CORRELATION_HEADER,
  correlationAttributes,
  correlationIdFromEvent,
  correlationIdFromRecord,
  getCorrelationId,
  isSafeCorrelationId,
  setCorrelationId,
  withCorrelationId,
} from './correlation.ts';
export { logger } from './logger.ts';
export { invocationMetrics, metrics } from './metrics.ts';
export { TRACE_ATTRIBUTE, type Tracing, type TracingMode, tracing, tracingMode } from './tracing.ts';
export { endEarly, withPowertools } from './withPowertools.ts';
