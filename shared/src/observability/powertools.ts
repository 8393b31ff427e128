import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

// One of each per container: module scope survives across warm invocations. Each reads the standard
// Powertools variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE,
// POWERTOOLS_TRACE_ENABLED, …) itself; only the namespace gets a default so that metrics never go unnamed.
export const logger = new Logger();

export const tracer = new Tracer();

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'lambda-infra',
});
