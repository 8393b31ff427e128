import { randomUUID } from 'node:crypto';
import type { Strategy } from './strategies.ts';

/** The circuit as every container sees it. `open` with `openUntil` in the past means: time to probe. */
export interface SharedState {
  state: 'closed' | 'open' | 'isolated';
  openUntil: number;
  failedProbes: number;
}

/** Outcomes of one container since its last sync. */
export interface OutcomeBatch {
  successes: number;
  failures: number;
  /** Failures since this container's last success, for the shared consecutive count. */
  trailingFailures: number;
}

/** Where a breaker shares its circuit; a local store shares nothing and is never called. */
export interface BreakerStore {
  readonly shared: boolean;
  /** A shared store is read, and written, at most once per this many milliseconds per container. */
  readonly syncMs: number;
  /** Adds the batch to the shared outcomes, applies the rule, and answers the shared state. */
  sync(
    name: string,
    batch: OutcomeBatch,
    rule: Strategy['rule'],
    openMs: number,
    now: number,
  ): Promise<SharedState>;
  /** Publishes a change this container made. */
  publish(name: string, state: SharedState): Promise<void>;
  /**
   * Asks to be the one container that probes now. Granted: a release function. Refused: the shared state,
   * which another container's probe has moved on (or is moving on) from.
   */
  acquireProbe(
    name: string,
    ttlMs: number,
    now: number,
  ): Promise<{ granted: true; release: () => Promise<unknown> } | { granted: false; shared: SharedState }>;
}

/** The circuit lives in this container only. */
export function memoryStore(): BreakerStore {
  const never = () => Promise.reject(new Error('a memory store shares nothing'));
  return {
    shared: false,
    syncMs: Number.POSITIVE_INFINITY,
    sync: never,
    publish: never,
    acquireProbe: never,
  };
}

// Shared outcomes and the same rules the local strategies apply. Slices of a failure-rate window are hash
// fields c:<slice> and f:<slice>; slices that left the window are dropped as the window is summed.
const SYNC = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local ok, bad, trailing = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kind, openMs = ARGV[5], tonumber(ARGV[10])
local state = redis.call('HGET', key, 'state') or 'closed'
local openUntil = tonumber(redis.call('HGET', key, 'openUntil') or '0')
local failedProbes = tonumber(redis.call('HGET', key, 'failedProbes') or '0')
if state == 'closed' and ok + bad > 0 then
  local trip = false
  if kind == 'consecutive' then
    local count
    if ok > 0 then count = trailing else count = tonumber(redis.call('HGET', key, 'consecutive') or '0') + bad end
    redis.call('HSET', key, 'consecutive', count)
    trip = count >= tonumber(ARGV[6])
  else
    local threshold, windowMs, minCalls, buckets = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
    local slice = math.floor(now / (windowMs / buckets))
    redis.call('HINCRBY', key, 'c:' .. slice, ok + bad)
    redis.call('HINCRBY', key, 'f:' .. slice, bad)
    local calls, fails = 0, 0
    local fields = redis.call('HGETALL', key)
    for i = 1, #fields, 2 do
      local prefix, s = string.match(fields[i], '^([cf]):(%d+)$')
      if prefix then
        if tonumber(s) <= slice - buckets then
          redis.call('HDEL', key, fields[i])
        elseif prefix == 'c' then
          calls = calls + tonumber(fields[i + 1])
        else
          fails = fails + tonumber(fields[i + 1])
        end
      end
    end
    trip = calls >= minCalls and fails / calls >= threshold
  end
  if trip then
    state, openUntil, failedProbes = 'open', now + openMs, 0
    redis.call('HSET', key, 'state', state, 'openUntil', openUntil, 'failedProbes', 0)
  end
end
redis.call('PEXPIRE', key, 86400000)
return { state, tostring(openUntil), tostring(failedProbes) }`;

// A later open never shortens an open that is already longer; closing forgets the shared outcomes.
const PUBLISH = `
local key = KEYS[1]
local state, openUntil, failedProbes = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if state == 'closed' then
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'closed')
elseif state == 'open' then
  local current = redis.call('HGET', key, 'state')
  local until_ = tonumber(redis.call('HGET', key, 'openUntil') or '0')
  if current ~= 'open' or until_ < openUntil then
    redis.call('HSET', key, 'state', 'open', 'openUntil', openUntil, 'failedProbes', failedProbes)
  end
else
  redis.call('HSET', key, 'state', state)
end
redis.call('PEXPIRE', key, 86400000)
return 1`;

// Granted only while the shared circuit is open and its time is up, and only to one container at a time.
const ACQUIRE_PROBE = `
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local openUntil = tonumber(redis.call('HGET', KEYS[1], 'openUntil') or '0')
local failedProbes = redis.call('HGET', KEYS[1], 'failedProbes') or '0'
local granted = 0
if state == 'open' and openUntil <= tonumber(ARGV[1]) and redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  granted = 1
end
return { granted, state, tostring(openUntil), failedProbes }`;

const RELEASE_PROBE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function parse(reply: unknown, offset = 0): SharedState {
  const [state, openUntil, failedProbes] = (reply as string[]).slice(offset);
  return {
    state: state === 'open' || state === 'isolated' ? state : 'closed',
    openUntil: Number(openUntil),
    failedProbes: Number(failedProbes),
  };
}

/**
 * What a shared store needs of Redis: a Lua script run on keys, its reply answered. The cache is one
 * (`redisStore(cache)`, on its connection and under its namespace); so is any client that can EVAL.
 */
export interface ScriptRunner {
  script(source: string, keys: string[], args: (string | number)[]): Promise<unknown>;
}

/**
 * One circuit per name for every container of the service, kept in Redis through `redis` (the cache, say).
 * The hash tag keeps a circuit's keys in one cluster slot.
 */
export function redisStore(cache: ScriptRunner, options: { syncMs?: number } = {}): BreakerStore {
  const stateKey = (name: string) => `breaker:{${name}}`;
  const probeKey = (name: string) => `breaker-probe:{${name}}`;
  return {
    shared: true,
    syncMs: options.syncMs ?? 1_000,
    async sync(name, batch, rule, openMs, now) {
      const params =
        rule.kind === 'consecutive'
          ? [rule.threshold, 0, 0, 0]
          : [rule.threshold, rule.windowMs, rule.minCalls, rule.buckets];
      const reply = await cache.script(
        SYNC,
        [stateKey(name)],
        [now, batch.successes, batch.failures, batch.trailingFailures, rule.kind, ...params, openMs],
      );
      return parse(reply);
    },
    async publish(name, state) {
      await cache.script(PUBLISH, [stateKey(name)], [state.state, state.openUntil, state.failedProbes]);
    },
    async acquireProbe(name, ttlMs, now) {
      const token = randomUUID();
      const reply = (await cache.script(
        ACQUIRE_PROBE,
        [stateKey(name), probeKey(name)],
        [now, token, ttlMs],
      )) as [number, ...string[]];
      if (Number(reply[0]) === 1) {
        return { granted: true, release: () => cache.script(RELEASE_PROBE, [probeKey(name)], [token]) };
      }
      return { granted: false, shared: parse(reply, 1) };
    },
  };
}
