export {
  badRequest,
  createHttpHandler,
  type HandlerContext,
  type HttpHandlerOptions,
  type HttpRequest,
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
export {
  type BodyOptions,
  type ConfigValues,
  correlationId,
  errorResponse,
  type HttpContext,
  type HttpEvent,
  type HttpMiddleware,
  type HttpResponse,
  healthRoute,
  httpErrorResponses,
  httpRequest,
  loadConfig,
  requestDeadline,
  validateBody,
} from './middleware.ts';
export { RouteTable } from './router.ts';
