// The few parts of opossum's API the breaker benchmark uses; the package ships no types.
declare module 'opossum' {
  export default class CircuitBreaker<T> {
    constructor(action: () => Promise<T>, options?: Record<string, unknown>);
    fire(): Promise<T>;
    shutdown(): void;
  }
}
