export {
  badRequest,
  createHttpHandler,
  type HandlerContext,
  type HttpEvent,
  type HttpHandlerOptions,
  type HttpRequest,
  type HttpResponse,
  type HttpResult,
} from './createHttpHandler.ts';
export { lazy } from './lazy.ts';
export { withPowertools } from './withPowertools.ts';
