export {
  type ContainerLine,
  type FunctionPool,
  type InvokeResult,
  layOutTask,
  startFunctionPool,
} from './containers.ts';
export { httpApiEvent, matchRoute, sqsEvent } from './events.ts';
export { startHttpApi, toHttpResponse } from './gateway.ts';
export { readTwinTemplate, resolveValue, type TwinTemplate } from './template.ts';
export { ensureCloudAssembly, startTwin, type Twin, type TwinOptions, type TwinState } from './twin.ts';
