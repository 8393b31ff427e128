import type { HealthCheck } from '../health/index.ts';
import { type ConfigSource, sharedConfigSources } from './ConfigSource.ts';

export interface ConfigFreshnessCheckOptions {
  /** Default: every source this container has made through `defineConfig`. */
  sources?: () => ConfigSource[];
  /**
   * Default true: a service whose config never loaded cannot serve. A failed refresh or an invalid newer value
   * reports degraded, never unhealthy, so it does not fail the service either way.
   */
  critical?: boolean;
  timeoutMs?: number;
}

/**
 * Config health: unhealthy when a service's config never loaded, or a component has no valid value yet (the
 * message names the component, the field, the rule and where the value came from); degraded while the last refresh failed or a
 * component's newest value is invalid (the last good config is in use); healthy otherwise.
 */
export function configFreshnessCheck(options: ConfigFreshnessCheckOptions = {}): HealthCheck {
  const list = options.sources ?? sharedConfigSources;
  return {
    name: 'config',
    critical: options.critical ?? true,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    async check() {
      const problems: string[] = [];
      let unhealthy = false;
      const notes: string[] = [];
      for (const source of list()) {
        try {
          await source.current();
        } catch (error) {
          unhealthy = true;
          problems.push((error as Error).message);
          continue;
        }
        const ageSeconds = source.ageSeconds() ?? 0;
        if (source.lastFailure) {
          problems.push(`${source.lastFailure.message}; using the config loaded ${ageSeconds}s ago`);
        }
        if (source.tuningProblem) problems.push(source.tuningProblem);
        for (const component of source.components().values()) {
          if (!component.invalid) continue;
          // Never loaded: the service cannot serve what needs this component.
          if (!component.loaded) unhealthy = true;
          problems.push(
            component.loaded ? `${component.invalid}; keeping the last good value` : component.invalid,
          );
        }
        notes.push(`${source.path} loaded ${ageSeconds}s ago (ttl ${source.ttlSeconds}s)`);
      }
      if (unhealthy) return { status: 'unhealthy', message: problems.join('; ') };
      if (problems.length > 0) return { status: 'degraded', message: problems.join('; ') };
      return { status: 'healthy', message: notes.join('; ') || 'no config defined' };
    },
  };
}
