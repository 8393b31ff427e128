export { type Bundle, bundleLayer, LAYER_DEPENDENCIES, LAYER_PACKAGES } from './bundling.ts';
export { Cache, type CacheProps } from './Cache.ts';
export { ConfigParameters, type ConfigParametersProps } from './ConfigParameters.ts';
export { Database, type DatabaseProps } from './Database.ts';
export {
  type ConsumeOptions,
  DEAD_LETTER_RETENTION,
  EventQueue,
  type EventQueueProps,
} from './EventQueue.ts';
export { Network, type NetworkProps } from './Network.ts';
export { type IPlatform, Platform, type PlatformProps } from './Platform.ts';
export { type ServiceBindings, ServiceFunction, type ServiceFunctionProps } from './ServiceFunction.ts';
export { layerArnParameterName, SharedLayer, type SharedLayerProps } from './SharedLayer.ts';
