/**
 * A value made on first use and reused by every later invocation of the container: the third phase of a
 * handler's start (logger, then config, then clients). A failed creation is not kept, so the next call tries
 * again instead of failing the container for good.
 */
export function lazy<T>(create: () => Promise<T> | T): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= Promise.resolve()
      .then(create)
      .catch((error: unknown) => {
        pending = undefined;
        throw error;
      });
    return pending;
  };
}
