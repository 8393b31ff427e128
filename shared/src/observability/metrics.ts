import { Metrics } from '@aws-lambda-powertools/metrics';

// One per container. Only the namespace gets a default, so that metrics never go unnamed.
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'lambda-infra',
});
