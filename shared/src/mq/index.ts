export {
  type BatchItem,
  type BatchResult,
  createPublisher,
  MAX_BATCH_BYTES,
  MAX_BATCH_ENTRIES,
  MAX_MESSAGE_BYTES,
  Publisher,
  type PublisherOptions,
  type PublishOptions,
} from './createPublisher.ts';
export {
  createSqsHandler,
  DLQ_REASON_ATTRIBUTES,
  type SqsHandlerOptions,
  type SqsMessage,
} from './createSqsHandler.ts';
export {
  type DeadLetter,
  inspectDeadLetters,
  purgeDeadLetters,
  type RedriveFilter,
  type RedriveOptions,
  type RedriveReport,
  redrive,
  startNativeRedrive,
} from './deadLetters.ts';
export { type QueueHealthOptions, queueHealthCheck } from './health.ts';
export { MAX_BODY_DEPTH } from './limits.ts';
export { type QueueDepth, readQueueDepth } from './queues.ts';
export {
  backoffSeconds,
  type RetryConfig,
  type RetryOptions,
  retryConfigDefaults,
  retryConfigSchema,
  retrySurvivalSeconds,
} from './retry.ts';
