export { type Backoff, backoffDelay, type Jitter, sleep } from './backoff.ts';
export { classifyError } from './classifyError.ts';
export { Deadline, invocationDeadline, TimeoutQueue, withDeadline, withTimeout } from './deadline.ts';
export {
  type FieldError,
  InfraError,
  type InfraErrorOptions,
  type InfraErrorType,
  isInfraError,
} from './InfraError.ts';
export { checkOptions, invalidOption, withDefaults } from './options.ts';
