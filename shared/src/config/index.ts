export { type BindingName, bindings, parameterPath, readBinding, readOptionalBinding } from './bindings.ts';
export {
  CONFIG_COMPONENT,
  type ComponentStatus,
  ConfigSource,
  type ConfigSourceOptions,
  configTuningDefaults,
  configTuningSchema,
  sharedConfigSource,
} from './ConfigSource.ts';
export { type ChangeListener, type Config, type DefineConfigOptions, defineConfig } from './defineConfig.ts';
export {
  type CatalogOption,
  type ComponentDefinition,
  type ConfigCatalog,
  type ConfigDifference,
  type ConfigEntry,
  checkConfigEntries,
  configEnvironments,
  diffConfig,
  exportConfig,
  getConfigValue,
  type ImportResult,
  importConfig,
  readConfigFolder,
  readConfigParameters,
  type Scope,
} from './folder.ts';
export { type ConfigFreshnessCheckOptions, configFreshnessCheck } from './health.ts';
export { OVERRIDE_PREFIX } from './layering.ts';
