export {
  type CheckOutcome,
  type ComponentHealth,
  createHealth,
  deferredCheck,
  type Health,
  type HealthCheck,
  type HealthReport,
  type HealthStatus,
} from './createHealth.ts';
