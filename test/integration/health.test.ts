// Active health checks against real upstream servers that fail, hang and recover on command.
import test, { type ExecutionContext } from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

// Short interval; a generous timeout so a busy test process (other tests compiling configs) never flaps a healthy target.
const fast = { path: '/healthz', interval: '30ms', timeout: '500ms', unhealthyThreshold: 2, healthyThreshold: 2 };

function config(ups: TestUpstream[], upstream: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    upstreams: { u: { targets: ups.map((x) => ({ url: x.url })), ...upstream }, ...extra },
    routes: { r: { match: { paths: ['/*'] }, upstream: 'u' } },
  };
}

async function setup(t: ExecutionContext, n: number, upstream: Record<string, unknown>): Promise<{ gw: TestGateway; ups: TestUpstream[] }> {
  const ups = await Promise.all(Array.from({ length: n }, () => startUpstream()));
  const gw = await startGateway(config(ups, upstream));
  t.teardown(async () => { await gw.stop(); await Promise.all(ups.map((x) => x.close())); });
  return { gw, ups };
}

const traffic = (u: TestUpstream) => u.received.filter((r) => r.url !== '/healthz').length;
const checks = (u: TestUpstream) => u.received.filter((r) => r.url === '/healthz').length;

async function targets(gw: TestGateway, name = 'u'): Promise<Array<{ url: string; health: string; available: boolean; breaker: string | null; inflight: number }>> {
  return (await http(`${gw.statusUrl}/upstreams`)).json().upstreams[name].targets;
}
const healthOf = async (gw: TestGateway, i: number) => (await targets(gw))[i]!.health;

test('a failing target leaves rotation after unhealthyThreshold checks and returns after healthyThreshold', async (t) => {
  const { gw, ups: [a, b] } = await setup(t, 2, { healthCheck: fast });
  await waitFor(() => checks(a!) >= 1 && checks(b!) >= 1, { message: 'both targets checked' });
  t.is(await healthOf(gw, 1), 'healthy');
  b!.mode = { kind: 'status', status: 503 };
  await waitFor(async () => (await healthOf(gw, 1)) === 'unhealthy', { message: 'b out of rotation' });
  const [a0, b0] = [traffic(a!), traffic(b!)];
  for (let i = 0; i < 10; i++) t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(traffic(b!) - b0, 0, 'no traffic to the unhealthy target');
  t.is(traffic(a!) - a0, 10);
  const m = await gw.gw.metrics.render();
  t.regex(m, new RegExp(`gatehouse_upstream_target_healthy\\{upstream="u",target="${b!.url}"\\} 0`));
  t.regex(m, new RegExp(`gatehouse_upstream_target_healthy\\{upstream="u",target="${a!.url}"\\} 1`));

  b!.mode = { kind: 'ok' };
  await waitFor(async () => (await healthOf(gw, 1)) === 'healthy', { message: 'b back in rotation' });
  const b1 = traffic(b!);
  for (let i = 0; i < 10; i++) t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(traffic(b!) - b1, 5, 'round-robin shares again');
});

test('a check that times out fails; /upstreams shows health, breaker and inflight per target', async (t) => {
  const { gw, ups: [a, b] } = await setup(t, 2, { healthCheck: { ...fast, timeout: '150ms', unhealthyThreshold: 3 }, circuitBreaker: { failures: 5 } });
  b!.mode = { kind: 'hang' };
  await waitFor(async () => (await healthOf(gw, 1)) === 'unhealthy', { message: 'hanging target out of rotation' });
  const st = await targets(gw);
  t.like(st[0], { url: a!.url, health: 'healthy', available: true, breaker: 'closed', inflight: 0 });
  t.like(st[1], { url: b!.url, health: 'unhealthy', available: false, breaker: 'closed' });
});

test('every target unhealthy: 503 GW_NO_HEALTHY_UPSTREAM, or the fallback when configured', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { healthCheck: fast });
  a!.mode = { kind: 'status', status: 500 };
  await waitFor(async () => (await healthOf(gw, 0)) === 'unhealthy');
  const before = traffic(a!);
  const r = await http(`${gw.url}/x`);
  t.is(r.status, 503);
  t.is(r.json().code, 'GW_NO_HEALTHY_UPSTREAM');
  t.is(traffic(a!), before);

  gw.push(config([a!], { healthCheck: fast, circuitBreaker: { fallback: { status: 200, body: 'cached', headers: {} } } }));
  await waitFor(async () => (await healthOf(gw, 0)) === 'unhealthy', { message: 'the new runtime learns the target is down' });
  const f = await http(`${gw.url}/x`);
  t.is(f.status, 200);
  t.is(f.body, 'cached');
});

test('a reload that keeps the upstream keeps its checker and state; dropping the upstream stops its checks', async (t) => {
  const [a, b, clock] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
  const other = { v: { targets: [{ url: clock.url }], healthCheck: fast } };
  const gw = await startGateway(config([a, b], { healthCheck: fast }, other));
  t.teardown(async () => { await gw.stop(); await Promise.all([a, b, clock].map((x) => x.close())); });
  b.mode = { kind: 'status', status: 503 };
  await waitFor(async () => (await healthOf(gw, 1)) === 'unhealthy');
  const runtime = gw.gw.snapshot!.upstreams.get('u')!;

  // A route change only: the same runtime serves on, still knowing b is down.
  gw.push({ ...config([a, b], { healthCheck: fast }, other), routes: { r: { match: { paths: ['/*'] }, upstream: 'u' }, r2: { match: { paths: ['/two'] }, upstream: 'u' } } });
  await waitFor(() => gw.gw.snapshot!.routes.has('r2'));
  t.is(gw.gw.snapshot!.upstreams.get('u'), runtime);
  t.true(runtime.health!.running);
  t.is(await healthOf(gw, 1), 'unhealthy', 'state survives the reload');
  for (let i = 0; i < 4; i++) t.is((await http(`${gw.url}/two`)).status, 200);
  t.is(traffic(b), 0);

  // The upstream disappears from config: its checks stop (the other upstream's checks are the clock).
  gw.push({ upstreams: other, routes: { r: { match: { paths: ['/*'] }, upstream: 'v' } } });
  await waitFor(() => !gw.gw.snapshot!.upstreams.has('u'));
  t.false(runtime.health!.running);
  // One round on the clock first: a check of u already on the wire when it stopped lands now.
  const first = checks(clock);
  await waitFor(() => checks(clock) > first);
  const [ca, cb, c0] = [checks(a), checks(b), checks(clock)];
  await waitFor(() => checks(clock) >= c0 + 5, { message: 'five more rounds on the remaining upstream' });
  t.is(checks(a), ca, 'no check of a dropped upstream');
  t.is(checks(b), cb);
});

test('a changed upstream config replaces the runtime: the old checker stops, the new one starts', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { healthCheck: fast });
  const old = gw.gw.snapshot!.upstreams.get('u')!;
  gw.push(config([a!], { healthCheck: { ...fast, interval: '40ms' } }));
  await waitFor(() => gw.gw.snapshot!.upstreams.get('u') !== old);
  const next = gw.gw.snapshot!.upstreams.get('u')!;
  t.false(old.health!.running);
  t.true(next.health!.running);
});
