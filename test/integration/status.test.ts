import test from 'ava';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

test('status server: healthz, readyz, metrics by route and status class with bounded labels', async (t) => {
  const up = await startUpstream();
  const gw = await startGateway({ upstreams: { a: { targets: [{ url: up.url }] } }, routes: { ok: { match: { paths: ['/ok'] }, upstream: 'a' } } });
  t.teardown(async () => { await gw.stop(); await up.close(); });
  t.is((await http(`${gw.statusUrl}/healthz`)).status, 200);
  const ready = await http(`${gw.statusUrl}/readyz`);
  t.is(ready.status, 200);
  t.is(ready.json().revision, 1);
  for (let i = 0; i < 5; i++) await http(`${gw.url}/ok`);
  for (let i = 0; i < 50; i++) await http(`${gw.url}/random-${i}`);
  const m = (await http(`${gw.statusUrl}/metrics`)).body;
  t.regex(m, /gatehouse_requests_total\{route="ok",status_class="2xx"\} 5/);
  t.regex(m, /gatehouse_requests_total\{route="_unmatched",status_class="4xx"\} 50/);
  t.false(m.includes('random-'), 'paths never become labels');
  t.regex(m, /gatehouse_request_duration_seconds_count\{route="ok"\} 5/);
  t.regex(m, /gatehouse_upstream_duration_seconds_bucket\{route="ok",le="\+Inf"\} 5/);
  t.regex(m, /gatehouse_config_reloads_total\{source="memory",result="applied"\} 1/);
  t.regex(m, /gatehouse_process_/);
  const status = (await http(`${gw.statusUrl}/status`)).json();
  t.deepEqual(status.routes, ['ok']);
});

test('access log: one JSON line per request, with route, status and request id; errors always logged', async (t) => {
  const up = await startUpstream();
  const gw = await startGateway({ node: { log: { access: { sample: 0 } } }, upstreams: { a: { targets: [{ url: up.url }] } }, routes: { ok: { match: { paths: ['/ok'] }, upstream: 'a' } } });
  t.teardown(async () => { await gw.stop(); await up.close(); });
  await http(`${gw.url}/ok`);
  up.mode = { kind: 'reset' };
  const r = await http(`${gw.url}/ok`);
  t.is(r.status, 502);
  gw.gw.rt.accessLog.flush();
  await waitFor(() => gw.accessLog.length >= 1, { message: 'error line written' });
  t.is(gw.accessLog.length, 1, 'sample 0 drops successes, keeps the 502');
  const line = gw.accessLog[0]!;
  t.is(line.status, 502);
  t.is(line.code, 'GW_UPSTREAM_UNAVAILABLE');
  t.is(line.route, 'ok');
  t.is(line.requestId, r.headers['x-request-id']);
});

test('readyz: a node with no routes stays out of its balancer (503 "no routes") unless readyWithoutRoutes', async (t) => {
  const empty = await startGateway({ upstreams: {}, routes: {} });
  t.teardown(() => empty.stop());
  const r = await http(`${empty.statusUrl}/readyz`);
  t.is(r.status, 503);
  t.is(r.json().status, 'no routes');
  const allowed = await startGateway({ node: { readyWithoutRoutes: true }, upstreams: {}, routes: {} });
  t.teardown(() => allowed.stop());
  t.is((await http(`${allowed.statusUrl}/readyz`)).status, 200);
});
