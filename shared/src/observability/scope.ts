import { AsyncLocalStorage } from 'node:async_hooks';

/** The correlation id of the record or request being handled, where several run at once in one container. */
export const correlationScope = new AsyncLocalStorage<string>();
