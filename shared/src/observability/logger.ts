import { Logger } from '@aws-lambda-powertools/logger';

// One per container: module scope survives across warm invocations. Reads POWERTOOLS_SERVICE_NAME,
// POWERTOOLS_LOG_LEVEL and the other standard Powertools variables itself.
export const logger = new Logger();
