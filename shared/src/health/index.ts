export {
  type CheckOutcome,
  type ComponentHealth,
  createHealth,
  type Health,
  type HealthCheck,
  type HealthReport,
  type HealthStatus,
} from './createHealth.ts';
