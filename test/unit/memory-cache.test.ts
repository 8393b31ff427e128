import { MemoryCache } from '@lambda-infra/shared/cache';
import { describe, expect, it } from 'vitest';

describe('MemoryCache (the L1)', () => {
  it('drops the least recently used entry past maxEntries', () => {
    const l1 = new MemoryCache({ maxEntries: 3 });
    l1.set('a', 1, 1);
    l1.set('b', 2, 1);
    l1.set('c', 3, 1);

    l1.get('a'); // a is now the most recently used
    l1.set('d', 4, 1);

    expect([l1.get('a')?.value, l1.get('b'), l1.get('c')?.value, l1.get('d')?.value]).toEqual([
      1,
      undefined,
      3,
      4,
    ]);
    expect(l1.size).toBe(3);
  });

  it('drops old entries past maxBytes and keeps nothing larger than maxBytes', () => {
    const l1 = new MemoryCache({ maxBytes: 100 });
    l1.set('a', 'a', 40);
    l1.set('b', 'b', 40);
    l1.set('c', 'c', 40);
    l1.set('huge', 'x', 101);

    expect(l1.get('a')).toBeUndefined();
    expect(l1.get('huge')).toBeUndefined();
    expect(l1.bytes).toBe(80);
  });

  it('expires an entry after the shorter of its own TTL and the level TTL', () => {
    let now = 0;
    const l1 = new MemoryCache({ ttlMs: 1_000, now: () => now });
    l1.set('short', 1, 1, 200);
    l1.set('long', 2, 1, 60_000);

    now = 201;
    const short = l1.get('short');
    now = 1_001;
    const long = l1.get('long');

    expect([short, long]).toEqual([undefined, undefined]);
    expect(l1.size).toBe(0);
    expect(l1.bytes).toBe(0);
  });

  it('replaces an entry without counting its bytes twice, and forgets on delete and clear', () => {
    const l1 = new MemoryCache();
    l1.set('a', 1, 10);
    l1.set('a', 2, 30);
    const replaced = { value: l1.get('a')?.value, bytes: l1.bytes };
    l1.delete('a');
    const deleted = l1.bytes;
    l1.set('b', 1, 5);
    l1.clear();

    expect(replaced).toEqual({ value: 2, bytes: 30 });
    expect(deleted).toBe(0);
    expect([l1.size, l1.bytes]).toEqual([0, 0]);
  });
});
