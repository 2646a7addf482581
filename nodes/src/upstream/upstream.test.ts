import test from 'ava';
import { UpstreamRuntime } from './upstream.ts';
import { PoolRegistry } from './target.ts';
import { swapUpstreams } from './lifecycle.ts';
import { Metrics } from '../telemetry/metrics.ts';
import type { BalanceInput } from './upstream.ts';
import type { Upstream } from '../schema/model.ts';
import { CLOSED, OPEN } from './breaker/types.ts';

const ctx = { req: { headers: {} }, clientIp: '127.0.0.1' } as unknown as BalanceInput;
const pools = new PoolRegistry();
test.after.always(() => pools.closeAll());

function runtime(cfg: Partial<Upstream>, metrics?: Metrics): UpstreamRuntime {
  return new UpstreamRuntime('u', { targets: [{ url: 'http://127.0.0.1:1' }, { url: 'http://127.0.0.1:2' }, { url: 'http://127.0.0.1:3' }], ...cfg }, { pools, metrics });
}

test('without breakers pick() grants no ticket and needs no start()', (t) => {
  const u = runtime({});
  t.truthy(u.pick(ctx));
  t.is(u.ticket, -1);
  t.is(u.retry, undefined);
  t.is(u.health, undefined);
});

test('pickAgain prefers targets not tried yet, for every balancer', (t) => {
  for (const balance of ['round-robin', 'least-request', 'consistent-hash'] as const) {
    const u = runtime({ balance });
    for (let i = 0; i < 20; i++) {
      const first = u.pick(ctx)!;
      const second = u.pickAgain(ctx, [first])!;
      t.not(second, first, balance);
      const third = u.pickAgain(ctx, [first, second])!;
      t.true(third !== first && third !== second, balance);
      t.truthy(u.pickAgain(ctx, [first, second, third]), 'all tried: any target still does');
    }
  }
});

test('breakers exist only between start() and stop(); an open target is skipped', (t) => {
  const u = runtime({ circuitBreaker: { failures: 1, openFor: '1h' } });
  t.is(u.targets[0]!.breaker, undefined, 'not started: nothing holds state or timers');
  u.start();
  t.true(u.targets.every((x) => x.breaker?.phase === CLOSED));
  const bad = u.pick(ctx)!;
  t.true(u.ticket >= 0);
  bad.breaker!.record(u.ticket, true, 1);
  t.is(bad.breaker!.phase, OPEN);
  t.false(bad.available);
  for (let i = 0; i < 10; i++) t.not(u.pick(ctx), bad);
  u.stop();
  t.true(u.targets.every((x) => x.breaker === undefined && x.available));
});

test('no target: 503 GW_CIRCUIT_OPEN when breakers are open, the fallback when configured, GW_NO_HEALTHY_UPSTREAM for health', (t) => {
  const u = runtime({ circuitBreaker: { failures: 1, openFor: '1h' } });
  u.start();
  t.teardown(() => u.stop());
  for (const x of u.targets) x.breaker!.record(x.breaker!.admit(), true, 1);
  t.is(u.pick(ctx), undefined);
  t.deepEqual(u.noTargetReply(), { code: 'GW_CIRCUIT_OPEN' });

  const f = runtime({ circuitBreaker: { failures: 1, fallback: { status: 200, body: '{"items":[]}', headers: { 'content-type': 'application/json' } } } });
  f.start();
  t.teardown(() => f.stop());
  for (const x of f.targets) x.breaker!.record(x.breaker!.admit(), true, 1);
  t.deepEqual(f.noTargetReply(), { status: 200, body: '{"items":[]}', headers: { 'content-type': 'application/json' } });
  t.is(f.noTargetCode(), 'GW_CIRCUIT_OPEN', 'the access log still says why');

  const h = runtime({});
  for (const x of h.targets) { x.healthy = false; x.refresh(); }
  t.is(h.pick(ctx), undefined);
  t.deepEqual(h.noTargetReply(), { code: 'GW_NO_HEALTHY_UPSTREAM' });
  t.deepEqual(new UpstreamRuntime('e', { targets: [] }, pools).noTargetReply(), { code: 'GW_UPSTREAM_UNAVAILABLE' });
});

test('discovery while started: new targets get a breaker, removed ones lose theirs', (t) => {
  const u = runtime({ circuitBreaker: { failures: 1 } });
  u.start();
  t.teardown(() => u.stop());
  const kept = u.targets[0]!;
  const keptBreaker = kept.breaker;
  const removed = u.targets[1]!;
  u.setTargets([{ url: kept.url }, { url: 'http://127.0.0.1:9' }]);
  t.is(u.targets[0], kept);
  t.is(kept.breaker, keptBreaker, 'a kept target keeps its state');
  t.truthy(u.targets[1]!.breaker);
  t.is(removed.breaker, undefined);
});

test('swapUpstreams starts new runtimes, stops dropped ones, leaves reused ones running', (t) => {
  const m = new Metrics();
  const a = runtime({ healthCheck: { path: '/h', interval: '1h' } }, m);
  const b = runtime({}, m);
  const c = runtime({}, m);
  swapUpstreams(undefined, [a, b]);
  t.true(a.started && b.started);
  t.true(a.health!.running);
  swapUpstreams([a, b], [a, c]);
  t.true(a.started, 'reused across snapshots: still running');
  t.true(a.health!.running);
  t.false(b.started);
  t.true(c.started);
  swapUpstreams([a, c], []);
  t.false(a.started || c.started);
  t.false(a.health!.running);
});

test('breaker transitions are counted and the state gauge reads live runtimes only', async (t) => {
  const m = new Metrics();
  const u = runtime({ circuitBreaker: { failures: 1, openFor: '1h' } }, m);
  swapUpstreams(undefined, [u]);
  const x = u.targets[0]!;
  x.breaker!.record(x.breaker!.admit(), true, 1);
  let text = await m.render();
  t.regex(text, /gatehouse_upstream_breaker_transitions_total\{upstream="u",target="http:\/\/127.0.0.1:1",from="closed",to="open"\} 1/);
  t.regex(text, /gatehouse_upstream_breaker_state\{upstream="u",target="http:\/\/127.0.0.1:1"\} 1/);
  t.regex(text, /gatehouse_upstream_breaker_state\{upstream="u",target="http:\/\/127.0.0.1:2"\} 0/);
  swapUpstreams([u], []);
  text = await m.render();
  t.notRegex(text, /gatehouse_upstream_breaker_state\{/);
});
