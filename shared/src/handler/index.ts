export {
  type BodyOptions,
  badRequest,
  createHttpHandler,
  type HandlerContext,
  type HttpEvent,
  type HttpHandlerOptions,
  type HttpRequest,
  type HttpResponse,
  type HttpResult,
  type HttpRoute,
  RequestRejected,
  type RouteFactory,
} from './createHttpHandler.ts';
export {
  callerOf,
  IDEMPOTENCY_STORE_UNREACHABLE,
  type IdempotentByKeyOptions,
  idempotencyKeyOf,
  idempotentByKey,
  type KeyedCall,
  uuidFromKey,
} from './idempotency.ts';
export { lazy } from './lazy.ts';
export { RouteTable } from './router.ts';
export { withPowertools } from './withPowertools.ts';
