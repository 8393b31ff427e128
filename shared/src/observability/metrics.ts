import { Metrics } from '@aws-lambda-powertools/metrics';
import { emfSettingsFromEnvironment, InvocationMetrics } from './emf.ts';

const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || 'lambda-infra';

/**
 * Powertools Metrics that knows, without asking its store (which reads the environment on every access), whether
 * anything was added since it last published.
 */
class HandlerMetrics extends Metrics {
  added = false;

  override addMetric(...args: Parameters<Metrics['addMetric']>): this {
    this.added = true;
    return super.addMetric(...args);
  }

  override publishStoredMetrics(): this {
    this.added = false;
    return super.publishStoredMetrics();
  }
}

/**
 * One per container, for a handler's own metrics: Powertools Metrics, published at the end of an invocation that
 * added any. Only the namespace gets a default, so that metrics never go unnamed.
 */
export const metrics: Metrics & { readonly added: boolean } = new HandlerMetrics({ namespace });

/** The library's own metrics (the catalog's): one EMF document per invocation, built with as little work as it takes. */
export const invocationMetrics = new InvocationMetrics(emfSettingsFromEnvironment(namespace));
