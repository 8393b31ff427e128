/** Attributes a dead-lettered message carries, saying why it is there. */
export const DLQ_REASON_ATTRIBUTES = {
  errorType: 'lambda-infra.errorType',
  errorMessage: 'lambda-infra.errorMessage',
  sourceQueue: 'lambda-infra.sourceQueue',
  receiveCount: 'lambda-infra.receiveCount',
  failedAt: 'lambda-infra.failedAt',
} as const;
