// One container sharing a circuit through Redis, driven by the breaker's multi-process tests.
//   WORKER_MODE=fail   -> failing calls until the circuit opens; prints the time it opened
//   WORKER_MODE=watch  -> a successful call every 10 ms until one is refused; prints the time of the refusal
//   WORKER_MODE=probe  -> a call every 5 ms for DURATION_MS; the dependency logs each call it gets while the
//                         shared circuit is open (a probe), keyed by the round's openUntil
import { consecutive, createBreaker, redisStore } from '@lambda-infra/shared/breaker';
import { createCache } from '@lambda-infra/shared/cache';
import { InfraError } from '@lambda-infra/shared/errors';

const { WORKER_MODE, REDIS_URL, NAMESPACE, SYNC_MS, START_AT, DURATION_MS } = process.env;
const cache = createCache({ url: REDIS_URL!, namespace: NAMESPACE!, commandTimeoutMs: 2_000 });
const breaker = createBreaker({
  name: 'dependency',
  strategy: consecutive(3),
  openMs: 300,
  maxOpenMs: 2_000,
  store: redisStore(cache, { syncMs: Number(SYNC_MS) }),
});
const down = () => Promise.reject(new InfraError('refused', { type: 'connection', component: 'dependency' }));
await cache.ping();
await breaker.sync();
await new Promise((r) => setTimeout(r, Math.max(0, Number(START_AT ?? 0) - Date.now())));

if (WORKER_MODE === 'fail') {
  while (breaker.state === 'closed') await breaker.execute(down).catch(() => {});
  process.stdout.write(`${Date.now()}\n`);
} else if (WORKER_MODE === 'watch') {
  for (;;) {
    const refused = await breaker
      .execute(async () => 'ok')
      .then(
        () => false,
        () => true,
      );
    if (refused) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write(`${Date.now()}\n`);
} else if (WORKER_MODE === 'probe') {
  const dependency = async () => {
    const [state, openUntil] = (await cache.script(
      "return { redis.call('HGET', KEYS[1], 'state') or 'closed', redis.call('HGET', KEYS[1], 'openUntil') or '0' }",
      ['breaker:{dependency}'],
      [],
    )) as [string, string];
    if (state === 'open')
      await cache.script("return redis.call('RPUSH', KEYS[1], ARGV[1])", ['probes'], [openUntil]);
    // The first probe finds the dependency still down; it is back for the next one.
    const n = await cache.incr('dependency-calls');
    if (n === 1) throw new InfraError('still down', { type: 'connection', component: 'dependency' });
    return 'ok';
  };
  const end = Date.now() + Number(DURATION_MS);
  while (Date.now() < end) {
    await breaker.execute(dependency).catch(() => {});
    await new Promise((r) => setTimeout(r, 5));
  }
  process.stdout.write(`${breaker.state}\n`);
} else {
  throw new Error(`unknown WORKER_MODE ${WORKER_MODE}`);
}
await cache.close();
