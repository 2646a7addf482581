// rate-limit end to end: exact counts, the draft headers on every response, shadow mode,
// keys, reloads and a flood of distinct keys, against a real gateway and upstream.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';

let up: TestUpstream;
let gw: TestGateway;

const config = (minuteLimit = 5): GatewayConfig => ({
  upstreams: { a: { targets: [{ url: up.url }] } },
  routes: {
    minute: { match: { paths: ['/minute'] }, upstream: 'a', policies: { 'rate-limit': { limit: minuteLimit, window: '1m', by: 'ip' } } },
    paced: { match: { paths: ['/paced'] }, upstream: 'a', policies: { 'rate-limit': { limit: 10, window: '1s', by: 'ip' } } },
    shadow: { match: { paths: ['/shadow'] }, upstream: 'a', policies: { 'rate-limit': { limit: 5, window: '1m', by: 'ip', enforce: false } } },
    tenant: { match: { paths: ['/tenant'] }, upstream: 'a', policies: { 'rate-limit': { limit: 1, window: '1m', by: 'header:x-tenant' } } },
    two: { match: { paths: ['/two'] }, upstream: 'a', policies: { 'rate-limit': { limits: [{ limit: 3, window: '1s', name: 'second' }, { limit: 5, window: '1h', name: 'hour' }], by: 'header:x-client' } } },
    denied: { match: { paths: ['/denied'] }, upstream: 'a', policies: { 'ip-restriction': { deny: ['127.0.0.0/8'] }, 'rate-limit': { limit: 5, window: '1m', by: 'ip' } } },
    flood: { match: { paths: ['/flood'] }, upstream: 'a', policies: { 'rate-limit': { limit: 5, window: '1m', by: 'header:x-key', maxKeys: 50 } } },
  },
});

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway(config());
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

const metrics = async (): Promise<string> => (await http(`${gw.statusUrl}/metrics`)).body;

test.serial('12 requests against 5 per minute: exactly 5 reach the upstream, 7 get 429 with the draft headers', async (t) => {
  up.received.length = 0;
  const rs = [];
  for (let i = 0; i < 12; i++) rs.push(await http(`${gw.url}/minute`));
  t.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
  t.is(up.received.filter((r) => r.url === '/minute').length, 5);
  for (const [i, r] of rs.entries()) {
    t.is(r.headers['ratelimit-policy'], '"default";q=5;w=60');
    // r counts down 4..0; t is when the quota is whole again (12 s per request used).
    const m = /^"default";r=(\d+);t=(\d+)$/.exec(String(r.headers.ratelimit));
    t.truthy(m, String(r.headers.ratelimit));
    t.is(Number(m![1]), Math.max(0, 4 - i));
    t.true(Math.abs(Number(m![2]) - 12 * Math.min(i + 1, 5)) <= 1, `t=${m![2]} for request ${i}`);
  }
  const limited = rs[5]!;
  t.is(limited.headers['content-type'], 'application/problem+json');
  t.is(limited.json().code, 'GW_RATE_LIMITED');
  t.true(['11', '12'].includes(String(limited.headers['retry-after'])), String(limited.headers['retry-after']));
  t.regex(await metrics(), /gatehouse_rate_limited_total\{route="minute",outcome="limited"\} 7\n/);
});

test.serial('at twice the limit\'s rate, admitted == burst + refill over the time taken', async (t) => {
  // 10 per second, offered 20 per second for ~2 s.
  const statuses: number[] = [];
  const t0 = performance.now();
  let last = t0;
  for (let i = 0; i < 40; i++) {
    const due = t0 + i * 50;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    last = performance.now();
    statuses.push((await http(`${gw.url}/paced`)).status);
  }
  const admitted = statuses.filter((s) => s === 200).length;
  const expected = 10 + Math.floor((last - t0) / 100);
  t.log(`admitted ${admitted} of 40 in ${Math.round(last - t0)} ms; burst + refill = ${expected}`);
  t.true(Math.abs(admitted - expected) <= 1, `admitted ${admitted}, expected ${expected}`);
  t.is(statuses.filter((s) => s === 429).length, 40 - admitted);
});

test.serial('every response of the route carries the headers: upstream errors and earlier refusals too', async (t) => {
  up.mode = { kind: 'status', status: 503 };
  const r = await http(`${gw.url}/two`, { headers: { 'x-client': 'c1' } });
  up.mode = { kind: 'ok' };
  t.is(r.status, 503);
  t.is(r.headers['ratelimit-policy'], '"second";q=3;w=1, "hour";q=5;w=3600');
  t.is(r.headers.ratelimit, '"second";r=2;t=1, "hour";r=4;t=720');
  const d = await http(`${gw.url}/denied`);
  t.is(d.status, 403);
  t.is(d.headers['ratelimit-policy'], '"default";q=5;w=60', 'refused before the traffic phase: the policy is still advertised');
  t.is(d.headers.ratelimit, undefined, 'but not a count it never took');
});

test.serial('several limits: the strictest refuses, and the others are not charged for it', async (t) => {
  const c2 = { headers: { 'x-client': 'c2' } };
  const rs = [];
  for (let i = 0; i < 8; i++) rs.push(await http(`${gw.url}/two`, c2));
  t.deepEqual(rs.map((r) => r.status), [200, 200, 200, 429, 429, 429, 429, 429]);
  t.is(rs[2]!.headers.ratelimit, '"second";r=0;t=1, "hour";r=2;t=2160');
  t.is(rs[3]!.headers.ratelimit, '"second";r=0;t=1', 'a refusal names the limit that refused');
  // Poll until the per-second limit lets one through: every refused poll must leave the
  // hourly count alone, so the one admitted is the 4th of 5, whatever the number of polls.
  const next = await waitFor(async () => { const r = await http(`${gw.url}/two`, c2); return r.status === 200 ? r : undefined; }, { interval: 50, message: 'per-second limit refilled' });
  t.regex(String(next.headers.ratelimit), /"hour";r=1;/);
});

test.serial('shadow mode: everything passes, no headers, and what it would refuse is counted', async (t) => {
  up.received.length = 0;
  const rs = [];
  for (let i = 0; i < 8; i++) rs.push(await http(`${gw.url}/shadow`));
  t.true(rs.every((r) => r.status === 200));
  t.true(rs.every((r) => r.headers.ratelimit === undefined && r.headers['ratelimit-policy'] === undefined));
  t.is(up.received.length, 8);
  const m = await metrics();
  t.regex(m, /gatehouse_rate_limited_total\{route="shadow",outcome="shadow_limited"\} 3\n/);
  t.regex(m, /gatehouse_policy_decisions_total\{route="shadow",policy="rate-limit",outcome="shadow_deny"\} 3\n/);
});

test.serial('by header: one bucket per value; without the header, one per client IP (never a shared one)', async (t) => {
  t.is((await http(`${gw.url}/tenant`, { headers: { 'x-tenant': 'acme' } })).status, 200);
  t.is((await http(`${gw.url}/tenant`, { headers: { 'x-tenant': 'acme' } })).status, 429);
  t.is((await http(`${gw.url}/tenant`, { headers: { 'x-tenant': 'globex' } })).status, 200);
  t.is((await http(`${gw.url}/tenant`)).status, 200, 'no header: the IP bucket, not a shared "missing" one');
  t.is((await http(`${gw.url}/tenant`)).status, 429);
});

test.serial('a flood of distinct keys: keys held stay at maxKeys, evictions are counted', async (t) => {
  const batch = async (from: number, n: number) => {
    await Promise.all(Array.from({ length: n }, (_, i) => http(`${gw.url}/flood`, { headers: { 'x-key': `k${from + i}` } })));
  };
  for (let i = 0; i < 300; i += 50) await batch(i, 50);
  const m = await metrics();
  const keys = Number(/gatehouse_rate_limit_keys\{route="flood",limit="default"\} (\d+)/.exec(m)?.[1]);
  t.true(keys <= 50, `keys ${keys}`);
  t.is(keys, 50);
  t.regex(m, /gatehouse_rate_limit_evictions_total\{route="flood",limit="default",reason="cap"\} 250\n/);
});

test.serial('a reload keeps the counts of unchanged limits; a changed limit starts over', async (t) => {
  t.is((await http(`${gw.url}/minute`)).status, 429);
  gw.push(config());
  await waitFor(() => gw.gw.snapshot?.revision === 2, { message: 'reload applied' });
  t.is((await http(`${gw.url}/minute`)).status, 429, 'same limit after the reload: still limited');
  gw.push(config(6));
  await waitFor(() => gw.gw.snapshot?.revision === 3, { message: 'second reload applied' });
  const r = await http(`${gw.url}/minute`);
  t.is(r.status, 200);
  t.is(r.headers['ratelimit-policy'], '"default";q=6;w=60');
});

test.serial('the gateway\'s headers replace the upstream\'s: one RateLimit-Policy, one X-Request-Id', async (t) => {
  up.respond = (_r, res) => {
    res.writeHead(200, [
      'RateLimit-Policy', '"upstream";q=1;w=1',
      'RateLimit', '"upstream";r=0;t=1',
      'X-Request-Id', 'upstream-id',
      'Content-Length', '2',
    ]);
    res.end('ok');
  };
  try {
    const r = await http(`${gw.url}/tenant`, { headers: { 'x-tenant': 'replace-check', 'x-request-id': 'client-id-123' } });
    t.is(r.status, 200);
    // A repeated header would arrive as an array here.
    t.is(r.headers['ratelimit-policy'], '"default";q=1;w=60');
    t.is(r.headers.ratelimit, '"default";r=0;t=60');
    t.is(r.headers['x-request-id'], 'client-id-123');
  } finally {
    up.respond = undefined;
  }
});
