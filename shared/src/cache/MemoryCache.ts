export interface MemoryCacheOptions {
  /** Default 1000. */
  maxEntries?: number;
  /** Default 8 MiB, counted as the UTF-8 size of each value's JSON. */
  maxBytes?: number;
  /** Default 5 s: short, since other containers may change the value in Redis meanwhile. */
  ttlMs?: number;
  now?: () => number;
}

interface Slot {
  value: unknown;
  bytes: number;
  expiresAt: number;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The in-process level in front of Redis: least recently used entries go first once either bound is
 * reached. Values are frozen on the way in, since every hit hands out the same object.
 */
export class MemoryCache {
  readonly #slots = new Map<string, Slot>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly ttlMs: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(options: MemoryCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1_000;
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.ttlMs = options.ttlMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#slots.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The slot for a key, or undefined when absent or expired. */
  get(key: string): { value: unknown } | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= this.#now()) {
      this.delete(key);
      return undefined;
    }
    // Most recently used goes to the back of the map's order.
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    return slot;
  }

  /** Keeps a value for at most `ttlMs` (the level's TTL, or less); `bytes` is its JSON's UTF-8 size. */
  set(key: string, value: unknown, bytes: number, ttlMs = this.ttlMs): void {
    this.delete(key);
    if (bytes > this.#maxBytes || ttlMs <= 0) return;
    this.#slots.set(key, {
      value: deepFreeze(value),
      bytes,
      expiresAt: this.#now() + Math.min(ttlMs, this.ttlMs),
    });
    this.#bytes += bytes;
    for (const [oldest, slot] of this.#slots) {
      if (this.#slots.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#slots.delete(oldest);
      this.#bytes -= slot.bytes;
    }
  }

  delete(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#slots.delete(key);
    this.#bytes -= slot.bytes;
  }

  clear(): void {
    this.#slots.clear();
    this.#bytes = 0;
  }
}
