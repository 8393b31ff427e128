export { classifyError } from './classifyError.ts';
export { invocationDeadline, TimeoutQueue, withDeadline } from './deadline.ts';
export {
  type FieldError,
  InfraError,
  type InfraErrorOptions,
  type InfraErrorType,
  isInfraError,
} from './InfraError.ts';
