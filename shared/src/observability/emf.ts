import { getBooleanFromEnv, getServiceName, isDevMode } from '@aws-lambda-powertools/commons/utils/env';

/** What CloudWatch takes in one EMF document: 100 metrics, and 100 values of each. */
const MAX_METRICS = 100;
const MAX_VALUES = 100;
/** Directives kept for reuse, one per set of metric names a container writes; a handler writes very few. */
const MAX_DIRECTIVES = 64;

export interface EmfSettings {
  namespace: string;
  service: string;
  disabled: boolean;
  /** Where a line goes: the console in Powertools' dev mode (where tests read it), stdout itself otherwise. */
  write: (line: string) => void;
}

/**
 * The settings Powertools Metrics reads, read the same way, once: `POWERTOOLS_METRICS_DISABLED` (else off in
 * `POWERTOOLS_DEV` mode), `POWERTOOLS_SERVICE_NAME`; the namespace is the library's.
 */
export function emfSettingsFromEnvironment(namespace: string): EmfSettings {
  const dev = isDevMode();
  const disabled =
    process.env.POWERTOOLS_METRICS_DISABLED !== undefined
      ? getBooleanFromEnv({ key: 'POWERTOOLS_METRICS_DISABLED', defaultValue: false, extendedParsing: true })
      : dev;
  // Straight to stdout outside dev mode: a console would format the one string it is given first.
  const write = dev
    ? (line: string) => console.log(line)
    : (line: string) => void process.stdout.write(`${line}\n`);
  return { namespace, service: getServiceName() || 'service_undefined', disabled, write };
}

interface Buffered {
  unit: string;
  values: number[];
}

/**
 * The library's own metrics of one invocation, written as one EMF document when it ends. Everything that can be
 * is done once: the settings are read at construction, and the `_aws` directive of a set of metric names is
 * built the first time that set is written and reused after, so an invocation costs a map of numbers and one
 * string. Metrics with dimensions of their own are written at once, each as its own document.
 */
export class InvocationMetrics {
  readonly #settings: EmfSettings;
  readonly #service: string;
  #buffered = new Map<string, Buffered>();
  readonly #directives = new Map<string, { directive: string; keys: string[] }>();

  constructor(settings: EmfSettings) {
    this.#settings = settings;
    this.#service = JSON.stringify(settings.service);
  }

  get disabled(): boolean {
    return this.#settings.disabled;
  }

  /** Adds a value to the invocation's document; a value that is not a finite number is not a metric, and is left out. */
  add(name: string, unit: string, value: number): void {
    if (this.#settings.disabled || !Number.isFinite(value)) return;
    let buffered = this.#buffered.get(name);
    if (!buffered) {
      if (this.#buffered.size >= MAX_METRICS) this.flush();
      buffered = { unit, values: [] };
      this.#buffered.set(name, buffered);
    } else if (buffered.values.length >= MAX_VALUES) {
      this.flush();
      buffered = { unit, values: [] };
      this.#buffered.set(name, buffered);
    }
    buffered.values.push(value);
  }

  /** Writes what the invocation buffered, if anything, as one document, and starts empty. */
  flush(): void {
    if (this.#buffered.size === 0) return;
    const buffered = this.#buffered;
    this.#buffered = new Map();
    let key = '';
    for (const [name, { unit }] of buffered) key += `${name}\u0000${unit}\u0000`;
    let cached = this.#directives.get(key);
    if (!cached) {
      const metrics = [...buffered].map(([name, { unit }]) => ({ Name: name, Unit: unit }));
      cached = {
        directive: JSON.stringify([
          { Namespace: this.#settings.namespace, Dimensions: [['service']], Metrics: metrics },
        ]),
        keys: metrics.map((m) => JSON.stringify(m.Name)),
      };
      if (this.#directives.size >= MAX_DIRECTIVES) this.#directives.clear();
      this.#directives.set(key, cached);
    }
    let line = `{"_aws":{"Timestamp":${Date.now()},"CloudWatchMetrics":${cached.directive}},"service":${this.#service}`;
    let i = 0;
    for (const { values } of buffered.values()) {
      line += `,${cached.keys[i++]}:${values.length === 1 ? values[0] : `[${values.join(',')}]`}`;
    }
    this.#settings.write(`${line}}`);
  }

  /** Writes one metric with dimensions of its own (and `metadata`, which is not a dimension) as its own document. */
  single(
    name: string,
    unit: string,
    value: number,
    dimensions: Record<string, string>,
    metadata?: Record<string, string>,
  ): void {
    if (this.#settings.disabled || !Number.isFinite(value)) return;
    const document: Record<string, unknown> = {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: this.#settings.namespace,
            Dimensions: [['service', ...Object.keys(dimensions).filter((d) => d !== 'service')]],
            Metrics: [{ Name: name, Unit: unit }],
          },
        ],
      },
      ...metadata,
      ...dimensions,
      service: this.#settings.service,
      [name]: value,
    };
    this.#settings.write(JSON.stringify(document));
  }
}
