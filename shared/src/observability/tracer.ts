import { Tracer } from '@aws-lambda-powertools/tracer';

// One per container. Kept in its own file because loading it loads the X-Ray SDK, which turns on async
// hooks for the whole process and makes every await about 15 times dearer (bench: 60 ns -> 960 ns):
// modules that do not trace import logger.ts and metrics.ts, never this.
export const tracer = new Tracer();
