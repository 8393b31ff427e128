/**
 * The header of the segment Lambda made for this invocation, where Lambda traces it (it sets the variable on
 * every invocation): the link a message keeps even when the library does not trace.
 */
export const lambdaTraceHeader = (): string | undefined => process.env._X_AMZN_TRACE_ID || undefined;
