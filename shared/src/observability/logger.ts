import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { correlationScope } from './scope.ts';

/**
 * Powertools' Logger with a correlation id per async scope: inside `withCorrelationId`, each line carries that
 * scope's id instead of the one set for the whole container, so records handled at once keep their own.
 */
class CorrelatedLogger extends Logger {
  protected override createAndPopulateLogItem(
    logLevel: number,
    input: LogItemMessage,
    extraInput: LogItemExtraInput,
  ): LogItem {
    const id = correlationScope.getStore();
    if (id === undefined) return super.createAndPopulateLogItem(logLevel, input, extraInput);
    return super.createAndPopulateLogItem(logLevel, input, [
      ...extraInput,
      { correlation_id: id },
    ] as LogItemExtraInput);
  }
}

// One per container: module scope survives across warm invocations. Reads POWERTOOLS_SERVICE_NAME,
// POWERTOOLS_LOG_LEVEL and the other standard Powertools variables itself.
export const logger: Logger = new CorrelatedLogger();
