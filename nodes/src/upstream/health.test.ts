import test from 'ava';
import { HealthChecker, healthSettings, parseExpect, type Probe } from './health.ts';
import { Target, PoolRegistry } from './target.ts';

test('expectStatus: codes and ranges become a lookup table', (t) => {
  const e = parseExpect([204, '300-302'], 'hc');
  t.deepEqual([200, 204, 299, 300, 301, 302, 303].map((s) => e[s]), [0, 1, 0, 1, 1, 1, 0]);
  t.throws(() => parseExpect(['399-300'], 'upstreams.u.healthCheck'), { message: /upstreams.u.healthCheck.expectStatus: 399-300/ });
});

test('defaults: every 5s, 2s timeout, 2 passes to return, 3 failures to leave, 200-399', (t) => {
  const s = healthSettings({ path: '/healthz' }, 'hc');
  t.deepEqual([s.intervalMs, s.timeoutMs, s.healthyThreshold, s.unhealthyThreshold], [5000, 2000, 2, 3]);
  t.deepEqual([199, 200, 399, 400].map((x) => s.expect[x]), [0, 1, 1, 0]);
  t.throws(() => healthSettings({ path: '/', interval: '0s' }, 'hc'), { message: 'hc.interval: must be at least 10ms' });
});

function fixture(results: Array<number | Error>) {
  const pools = new PoolRegistry();
  const target = new Target('http://127.0.0.1:1', 1, pools.get('http://127.0.0.1:1', { connections: 1, connectTimeout: 100, headersTimeout: 100, bodyTimeout: 100, keepAliveTimeout: 100 }));
  const changes: boolean[] = [];
  let calls = 0;
  const probe: Probe = async () => {
    const r = results[Math.min(calls++, results.length - 1)]!;
    if (r instanceof Error) throw r;
    return r;
  };
  const hc = new HealthChecker(healthSettings({ path: '/h', interval: '1h', healthyThreshold: 2, unhealthyThreshold: 3 }, 'hc'), () => [target], (_t, h) => changes.push(h), probe);
  return { target, hc, changes, pools, calls: () => calls };
}

/** Let the checks of one round settle (probes resolve on the microtask queue). */
const settle = () => new Promise((r) => setImmediate(r));

test('unhealthy after exactly unhealthyThreshold failures, healthy again after healthyThreshold passes', async (t) => {
  const f = fixture([200, 500, new Error('refused'), 500, 500, 200, 500, 200, 200]);
  t.teardown(() => { f.hc.stop(); return f.pools.closeAll(); });
  f.hc.start(); // round 1: 200
  await settle();
  for (let i = 0; i < 2; i++) { f.hc.round(); await settle(); } // 500, error
  t.true(f.target.healthy, 'two failures are not three');
  f.hc.round(); await settle(); // 500
  t.false(f.target.healthy);
  t.deepEqual(f.changes, [false]);
  f.hc.round(); await settle(); // 500
  f.hc.round(); await settle(); // 200
  f.hc.round(); await settle(); // 500: resets the pass count
  f.hc.round(); await settle(); // 200
  t.false(f.target.healthy);
  f.hc.round(); await settle(); // 200
  t.true(f.target.healthy);
  t.deepEqual(f.changes, [false, true]);
  t.deepEqual(f.hc.counts(f.target), { pass: 2, fail: 0 });
});

test('a target whose check is still running is not checked again; stop drops late results', async (t) => {
  let release: (s: number) => void = () => undefined;
  const pools = new PoolRegistry();
  const target = new Target('http://127.0.0.1:1', 1, pools.get('http://127.0.0.1:1', { connections: 1, connectTimeout: 100, headersTimeout: 100, bodyTimeout: 100, keepAliveTimeout: 100 }));
  let calls = 0;
  const probe: Probe = (_t, _s, signal) => new Promise((resolve, reject) => { calls++; release = resolve; signal.addEventListener('abort', () => reject(new Error('aborted'))); });
  const hc = new HealthChecker(healthSettings({ path: '/h', interval: '1h', unhealthyThreshold: 1 }, 'hc'), () => [target], () => undefined, probe);
  t.teardown(() => pools.closeAll());
  hc.start();
  hc.round();
  hc.round();
  t.is(calls, 1);
  t.true(hc.running);
  hc.stop();
  t.false(hc.running);
  release(500);
  await settle();
  t.true(target.healthy, 'a check aborted by stop() says nothing');
});
