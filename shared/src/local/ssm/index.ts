export {
  type Filter,
  ParameterStore,
  type ParameterTier,
  type ParameterType,
  SsmServiceError,
} from './ParameterStore.ts';
export { type InjectedFault, type SsmEndpoint, type SsmEndpointOptions, startSsmEndpoint } from './server.ts';
