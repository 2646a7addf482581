// Circuit breakers against real upstream servers: exact counts of what reaches each target.
import test, { type ExecutionContext } from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

/** A gateway with one route `/` to upstream `u` made of the given servers. */
async function setup(t: ExecutionContext, n: number, upstream: Record<string, unknown>): Promise<{ gw: TestGateway; ups: TestUpstream[] }> {
  const ups = await Promise.all(Array.from({ length: n }, () => startUpstream()));
  const gw = await startGateway({
    upstreams: { u: { targets: ups.map((x) => ({ url: x.url })), ...upstream } },
    routes: { r: { match: { paths: ['/*'] }, upstream: 'u' } },
  });
  t.teardown(async () => { for (const x of ups) x.release(); await gw.stop(); await Promise.all(ups.map((x) => x.close())); });
  return { gw, ups };
}

async function breakerOf(gw: TestGateway, i = 0): Promise<string> {
  const r = await http(`${gw.statusUrl}/upstreams`);
  return r.json().upstreams.u.targets[i].breaker;
}

test('opens after exactly `failures` failures; then no request reaches the target', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { failures: 3, openFor: '1h' } });
  a!.mode = { kind: 'status', status: 503 };
  for (let i = 0; i < 3; i++) {
    t.is(await breakerOf(gw), 'closed');
    const r = await http(`${gw.url}/x`);
    t.is(r.status, 503);
    t.is(r.body, 'status 503', 'failures pass through as the upstream sent them');
  }
  t.is(await breakerOf(gw), 'open');
  a!.mode = { kind: 'ok' };
  for (let i = 0; i < 10; i++) {
    const r = await http(`${gw.url}/x`);
    t.is(r.status, 503);
    t.is(r.headers['content-type'], 'application/problem+json');
    t.is(r.json().code, 'GW_CIRCUIT_OPEN');
  }
  t.is(a!.received.length, 3, 'not one request after the breaker opened');
  const metrics = await gw.gw.metrics.render();
  t.regex(metrics, new RegExp(`gatehouse_upstream_breaker_state\\{upstream="u",target="${a!.url}"\\} 1`));
  t.regex(metrics, new RegExp(`gatehouse_upstream_breaker_transitions_total\\{upstream="u",target="${a!.url}",from="closed",to="open"\\} 1`));
});

test('half-open lets exactly `probes` requests through; their success closes the breaker', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { failures: 1, openFor: '300ms', probes: 2 } });
  a!.mode = { kind: 'status', status: 500 };
  t.is((await http(`${gw.url}/x`)).status, 500);
  await waitFor(async () => (await breakerOf(gw)) === 'half-open', { message: 'half-open after openFor' });
  a!.mode = { kind: 'hold' };
  let answered = 0;
  const probes = Array.from({ length: 6 }, () => http(`${gw.url}/x`).then((r) => { answered++; return r; }));
  // The other four are refused at once while the held probes keep their slots.
  await waitFor(() => a!.held.length === 2 && answered === 4, { message: 'two probes held at the upstream, four refused' });
  t.is(a!.received.length, 3, 'the failure + exactly 2 probes');
  a!.release(200);
  const res = await Promise.all(probes);
  t.deepEqual(res.map((r) => r.status).sort(), [200, 200, 503, 503, 503, 503]);
  t.true(res.filter((r) => r.status === 503).every((r) => r.json().code === 'GW_CIRCUIT_OPEN'));
  t.is(await breakerOf(gw), 'closed');
  a!.mode = { kind: 'ok' };
  for (let i = 0; i < 5; i++) t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(a!.received.length, 8);
});

test('a failed probe opens the breaker again', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { failures: 2, openFor: '1s', probes: 1 } });
  a!.mode = { kind: 'reset' };
  for (let i = 0; i < 2; i++) t.is((await http(`${gw.url}/x`)).status, 502);
  await waitFor(async () => (await breakerOf(gw)) === 'half-open');
  a!.mode = { kind: 'status', status: 503 };
  t.is((await http(`${gw.url}/x`)).status, 503, 'the probe reaches the still failing target');
  t.is(await breakerOf(gw), 'open', 'one failed probe is enough');
  t.is((await http(`${gw.url}/x`)).json().code, 'GW_CIRCUIT_OPEN');
  t.is(a!.received.length, 3, 'the 2 failures and the one probe');
});

test('per target: the failing target is ejected, the others take all traffic', async (t) => {
  const { gw, ups: [a, b] } = await setup(t, 2, { circuitBreaker: { failures: 2, openFor: '1h' } });
  b!.mode = { kind: 'status', status: 503 };
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await http(`${gw.url}/x`)).status);
  t.is(b!.received.length, 2, 'b got exactly its 2 failures');
  t.is(a!.received.length, 18);
  t.is(statuses.filter((s) => s === 503).length, 2);
  t.is(await breakerOf(gw, 1), 'open');
  t.is(await breakerOf(gw, 0), 'closed');
  const st = (await http(`${gw.statusUrl}/upstreams`)).json().upstreams.u.targets;
  t.is(st[1].available, false);
});

test('every target open: the configured fallback answers instead of 503', async (t) => {
  const fallback = { status: 200, body: '{"items":[],"degraded":true}', headers: { 'content-type': 'application/json', 'x-fallback': '1' } };
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { failures: 1, openFor: '1h', fallback } });
  a!.mode = { kind: 'status', status: 502 };
  t.is((await http(`${gw.url}/x`)).status, 502);
  const r = await http(`${gw.url}/x`);
  t.is(r.status, 200);
  t.is(r.body, fallback.body);
  t.is(r.headers['x-fallback'], '1');
  t.truthy(r.headers['x-request-id']);
  t.is(a!.received.length, 1);
});

test('retries skip an open target and a breaker counts each try', async (t) => {
  const { gw, ups: [a, b] } = await setup(t, 2, { circuitBreaker: { failures: 1, openFor: '1h' }, retries: { attempts: 2, backoff: { base: '1ms', max: '1ms' } } });
  a!.mode = { kind: 'status', status: 503 };
  for (let i = 0; i < 10; i++) t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(a!.received.length, 1, 'opened by its first failure, never tried again');
  t.is(b!.received.length, 10);
});

test('slow calls open the breaker (slowCall threshold and ratio)', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { slowCall: { threshold: '100ms', ratio: 0.5 }, minRequests: 4, openFor: '1h' } });
  a!.mode = { kind: 'slow', ms: 150 };
  for (let i = 0; i < 2; i++) t.is((await http(`${gw.url}/x`)).status, 200);
  a!.mode = { kind: 'ok' };
  t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(await breakerOf(gw), 'closed', 'fewer than minRequests calls');
  t.is((await http(`${gw.url}/x`)).status, 200);
  t.is(await breakerOf(gw), 'open', '2 of 4 calls slow: ratio 0.5 reached');
  t.is((await http(`${gw.url}/x`)).json().code, 'GW_CIRCUIT_OPEN');
  t.is(a!.received.length, 4);
});

test('scope: cluster is accepted and runs local breakers until a cluster store exists', async (t) => {
  const { gw, ups: [a] } = await setup(t, 1, { circuitBreaker: { failures: 1, openFor: '1h', scope: 'cluster' } });
  a!.mode = { kind: 'status', status: 503 };
  await http(`${gw.url}/x`);
  t.is((await http(`${gw.url}/x`)).json().code, 'GW_CIRCUIT_OPEN');
});
