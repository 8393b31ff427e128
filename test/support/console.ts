import { type MockInstance, vi } from 'vitest';

export interface Emitted {
  /** Log records (Powertools JSON) at warn level or above. */
  warnings(): Record<string, unknown>[];
  /** Names of the metrics written as EMF, with their dimensions. */
  metrics(): { name: string; value: unknown; dimensions: Record<string, unknown> }[];
  restore(): void;
}

function parse(args: unknown[]): Record<string, unknown> | undefined {
  const first = args[0];
  if (typeof first !== 'string') return undefined;
  try {
    return JSON.parse(first) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Captures what Powertools writes through the console (tests run it in dev mode, where it uses the global
 * console): log records and EMF metric documents.
 */
export function captureConsole(): Emitted {
  const spies: MockInstance[] = [
    vi.spyOn(console, 'log').mockImplementation(() => {}),
    vi.spyOn(console, 'info').mockImplementation(() => {}),
    vi.spyOn(console, 'warn').mockImplementation(() => {}),
    vi.spyOn(console, 'error').mockImplementation(() => {}),
  ];
  const [log, , warn, error] = spies as [MockInstance, MockInstance, MockInstance, MockInstance];
  const records = (spy: MockInstance) => spy.mock.calls.map(parse).filter((r) => r !== undefined);
  return {
    warnings: () => [...records(warn), ...records(error)].filter((r) => !('_aws' in r)),
    metrics: () =>
      records(log)
        .filter((r) => '_aws' in r)
        .flatMap((doc) => {
          const directive = (
            doc._aws as { CloudWatchMetrics: { Metrics: { Name: string }[]; Dimensions: string[][] }[] }
          ).CloudWatchMetrics[0]!;
          const dimensions = Object.fromEntries((directive.Dimensions[0] ?? []).map((d) => [d, doc[d]]));
          return directive.Metrics.map((m) => ({ name: m.Name, value: doc[m.Name], dimensions }));
        }),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}
