import { Metrics } from '@aws-lambda-powertools/metrics';
import { emfSettingsFromEnvironment, InvocationMetrics } from './emf.ts';

const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || 'lambda-infra';

/**
 * One per container, for a handler's own metrics: Powertools Metrics, published at the end of an invocation that
 * added any. Only the namespace gets a default, so that metrics never go unnamed.
 */
export const metrics = new Metrics({ namespace });

/** The library's own metrics (the catalog's): one EMF document per invocation, built with as little work as it takes. */
export const invocationMetrics = new InvocationMetrics(emfSettingsFromEnvironment(namespace));
