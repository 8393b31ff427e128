import { classifyError, InfraError } from '../errors/index.ts';

/**
 * A value made on first use and reused by every later invocation of the container: the third phase of a
 * handler's start (logger, then config, then clients). A failed creation is not kept, so the next call tries
 * again instead of failing the container for good. Its error is retryable whatever it was: a client that cannot
 * be made is the deployment's fault (a binding, a config value), never the request's or the message's, so an
 * HTTP handler answers 503 and an SQS message is retried rather than dead-lettered.
 */
export function lazy<T>(create: () => Promise<T> | T): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= Promise.resolve()
      .then(create)
      .catch((error: unknown) => {
        pending = undefined;
        const infra = classifyError(error, 'setup');
        if (infra.retryable) throw error;
        throw new InfraError(`could not make a client: ${infra.message}`, {
          type: 'config',
          component: infra.component,
          retryable: true,
          cause: error,
          fields: infra.fields,
          ...(infra.code ? { code: infra.code } : {}),
        });
      });
    return pending;
  };
}
