export { classifyError } from './classifyError.ts';
export { invocationDeadline, TimeoutQueue, withDeadline, withTimeout } from './deadline.ts';
export {
  type FieldError,
  InfraError,
  type InfraErrorOptions,
  type InfraErrorType,
  isInfraError,
} from './InfraError.ts';
