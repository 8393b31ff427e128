import type { MessageAttributeValue } from '@aws-sdk/client-sqs';

/** SQS limits (current AWS documentation): a message and a whole SendMessageBatch request, 1 MiB each. */
export const MAX_MESSAGE_BYTES = 1_048_576;
export const MAX_BATCH_BYTES = 1_048_576;
export const MAX_BATCH_ENTRIES = 10;
/** SQS takes at most 10 message attributes per message. */
export const MAX_ATTRIBUTES = 10;
/**
 * Deepest nesting of objects and arrays a body may have. Beyond it, schema validation and serialization recurse
 * into a stack overflow; no event of this kind needs more.
 */
export const MAX_BODY_DEPTH = 64;

/** The size SQS counts for message attributes: each name, data type and value. */
export function attributeBytes(attributes: Record<string, MessageAttributeValue>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(attributes)) {
    bytes +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '');
  }
  return bytes;
}

/** Why a value cannot be a message body, or undefined when it can: too deep, or circular. Iterative. */
export function bodyShapeProblem(value: unknown, maxDepth = MAX_BODY_DEPTH): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const onPath = new Set<object>();
  // Depth-first with an explicit stack; an `exit` entry takes a node off the current path.
  const stack: { node: object; depth: number; exit?: true }[] = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth, exit } = stack.pop()!;
    if (exit) {
      onPath.delete(node);
      continue;
    }
    if (onPath.has(node)) return 'is circular: it refers to itself and cannot be JSON';
    if (depth > maxDepth) return `is nested ${depth} levels deep; at most ${maxDepth} are allowed`;
    const toJSON = (node as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') continue;
    onPath.add(node);
    stack.push({ node, depth, exit: true });
    for (const child of Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * A body as JSON, or why it cannot be one (a BigInt, nothing to serialize). Its shape is the caller's to check
 * first, with `bodyShapeProblem`: JSON.stringify recurses.
 */
export function encodeBody(
  value: unknown,
): { json: string; problem?: undefined } | { json?: undefined; problem: string } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    return { problem: `cannot be JSON: ${(error as Error).message}` };
  }
  return json === undefined ? { problem: 'cannot be JSON: it serializes to nothing' } : { json };
}
