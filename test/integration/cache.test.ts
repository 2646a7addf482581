/**
 * The cache policy through the real gateway and a recording upstream: what the client gets
 * (X-Cache, Age, body) and how many requests the upstream saw. Each test uses its own
 * paths, so the one node cache shared by the routes never mixes tests.
 */
import test from 'ava';
import type http from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type Received, type TestUpstream } from '../helpers/upstream.ts';
import { http as request } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';

type Handler = (r: Received, res: http.ServerResponse, n: number) => void;

let up: TestUpstream;
let gw: TestGateway;
const handlers = new Map<string, Handler>();

/** The upstream answers `path` with `h` (n = how many requests for that path so far, from 1). */
function serve(path: string, h: Handler): void { handlers.set(path, h); }

/** Plain answer; no Date header by default, so ages in these tests start at 0 (the cache adds Date). */
function reply(res: http.ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  res.sendDate = 'date' in headers;
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

const count = (path: string): number => up.received.filter((r) => r.url.split('?')[0] === path).length;
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(`${gw.url}${path}`, { method, headers });

test.before(async () => {
  up = await startUpstream({
    respond: (r, res) => {
      const path = r.url.split('?')[0]!;
      const h = handlers.get(path);
      if (!h) return reply(res, 404, {}, 'no handler');
      h(r, res, count(path));
    },
  });
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }], timeouts: { response: '2s' } } },
    routes: {
      c: { match: { paths: ['/c/*'] }, upstream: 'a', policies: { cache: { ttl: '30s' } } },
      shared: { match: { paths: ['/auth/*'] }, upstream: 'a', policies: { cache: { allowAuthorized: true } } },
      t: { match: { paths: ['/t/*'] }, upstream: 'a', policies: { cache: {}, 'response-transform': { headers: { set: { 'x-resp': '1' }, remove: ['x-secret'] } } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

test.serial('hit: the second request is served from the cache with Age and X-Cache', async (t) => {
  serve('/c/hit', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  const a = await get('/c/hit');
  t.is(a.headers['x-cache'], 'MISS');
  const b = await get('/c/hit');
  t.is(b.status, 200);
  t.is(b.body, 'v1');
  t.is(b.headers['x-cache'], 'HIT');
  t.is(b.headers.age, '0');
  t.truthy(b.headers.date, 'the stored response got a Date');
  t.regex(String(b.headers['x-request-id']), /^[0-9a-f]{32}$/);
  t.not(b.headers['x-request-id'], a.headers['x-request-id']);
  t.is(count('/c/hit'), 1);
  const c = await get('/c/hit?x=1');
  t.is(c.headers['x-cache'], 'MISS', 'the query is part of the key');
});

test.serial('expiry: after max-age the next request goes upstream', async (t) => {
  serve('/c/exp', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=1' }, `v${n}`));
  await get('/c/exp');
  t.is((await get('/c/exp')).headers['x-cache'], 'HIT');
  const later = await waitFor(async () => { const r = await get('/c/exp'); return r.headers['x-cache'] === 'MISS' ? r : undefined; }, { interval: 100, message: 'stored response expires' });
  t.is(later.body, 'v2');
  t.is(count('/c/exp'), 2);
});

test.serial('s-maxage wins over max-age for a shared cache; Expires counts without max-age', async (t) => {
  serve('/c/smax', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=0, s-maxage=60' }, `v${n}`));
  await get('/c/smax');
  t.is((await get('/c/smax')).headers['x-cache'], 'HIT');
  t.is(count('/c/smax'), 1);
  serve('/c/expires', (_r, res, n) => reply(res, 200, { date: new Date().toUTCString(), expires: new Date(Date.now() + 60_000).toUTCString() }, `v${n}`));
  await get('/c/expires');
  t.is((await get('/c/expires')).headers['x-cache'], 'HIT');
  serve('/c/maxage0', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=0' }, `v${n}`));
  await get('/c/maxage0');
  await get('/c/maxage0');
  t.is(count('/c/maxage0'), 2, 'max-age=0 without validators: nothing to reuse');
});

test.serial('no-store and private responses are never stored; request no-store bypasses', async (t) => {
  serve('/c/nostore', (_r, res, n) => reply(res, 200, { 'cache-control': 'no-store' }, `v${n}`));
  serve('/c/private', (_r, res, n) => reply(res, 200, { 'cache-control': 'private, max-age=60' }, `v${n}`));
  serve('/c/cookie', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60', 'set-cookie': 'a=b' }, `v${n}`));
  for (const p of ['/c/nostore', '/c/private', '/c/cookie']) {
    await get(p);
    t.is((await get(p)).headers['x-cache'], 'MISS', p);
    t.is(count(p), 2, p);
  }
  serve('/c/reqnostore', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  const r = await get('/c/reqnostore', { 'cache-control': 'no-store' });
  t.is(r.headers['x-cache'], 'BYPASS');
  t.is((await get('/c/reqnostore')).headers['x-cache'], 'MISS', 'nothing was stored');
});

test.serial('no-cache: stored, revalidated every time; a 304 gives the client the stored body', async (t) => {
  serve('/c/nocache', (r, res) => {
    if (r.headers['if-none-match'] === '"e1"') return reply(res, 304, { etag: '"e1"', 'cache-control': 'no-cache' });
    reply(res, 200, { etag: '"e1"', 'cache-control': 'no-cache' }, 'body-1');
  });
  t.is((await get('/c/nocache')).headers['x-cache'], 'MISS');
  const b = await get('/c/nocache');
  t.is(b.status, 200);
  t.is(b.body, 'body-1');
  t.is(b.headers['x-cache'], 'REVALIDATED');
  t.is(b.headers['content-length'], '6');
  t.is(count('/c/nocache'), 2);
  t.is(up.received.filter((r) => r.url === '/c/nocache')[1]!.headers['if-none-match'], '"e1"');
});

test.serial('Last-Modified revalidation after expiry; a changed resource replaces the stored one', async (t) => {
  const lm = 'Mon, 30 Jun 2025 12:00:00 GMT';
  let version = 1;
  serve('/c/lm', (r, res) => {
    if (r.headers['if-modified-since'] === lm && version === 1) return reply(res, 304, { 'cache-control': 'max-age=1' });
    reply(res, 200, { 'last-modified': version === 1 ? lm : 'Tue, 01 Jul 2025 12:00:00 GMT', 'cache-control': 'max-age=1' }, `v${version}`);
  });
  await get('/c/lm');
  const again = await waitFor(async () => { const r = await get('/c/lm'); return r.headers['x-cache'] === 'REVALIDATED' ? r : undefined; }, { interval: 100, message: 'revalidated after expiry' });
  t.is(again.body, 'v1');
  const seen = up.received.filter((r) => r.url === '/c/lm');
  t.is(seen.at(-1)!.headers['if-modified-since'], lm);
  t.is((await get('/c/lm')).headers['x-cache'], 'HIT', 'the 304 freshened it');
  version = 2;
  const changed = await waitFor(async () => { const r = await get('/c/lm'); return r.body === 'v2' ? r : undefined; }, { interval: 100, message: 'new version served' });
  t.is(changed.headers['x-cache'], 'MISS');
});

test.serial('Vary: one stored variant per value of the named request headers', async (t) => {
  serve('/c/vary', (r, res) => reply(res, 200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `lang=${r.headers['accept-language'] ?? '-'}`));
  t.is((await get('/c/vary', { 'accept-language': 'en' })).body, 'lang=en');
  t.is((await get('/c/vary', { 'accept-language': 'de' })).body, 'lang=de');
  const en = await get('/c/vary', { 'accept-language': 'en' });
  t.is(en.body, 'lang=en');
  t.is(en.headers['x-cache'], 'HIT');
  const de = await get('/c/vary', { 'accept-language': 'de' });
  t.is(de.body, 'lang=de');
  t.is(de.headers['x-cache'], 'HIT');
  t.is((await get('/c/vary')).body, 'lang=-', 'absent header is its own variant');
  t.is(count('/c/vary'), 3);
  serve('/c/varystar', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60', vary: '*' }, `v${n}`));
  await get('/c/varystar');
  await get('/c/varystar');
  t.is(count('/c/varystar'), 2, 'Vary: * never matches');
});

test.serial('Authorization: not shared unless the route opts in and the response allows it', async (t) => {
  serve('/c/authz', (_r, res, n) => reply(res, 200, { 'cache-control': 'public, max-age=60' }, `v${n}`));
  const a = await get('/c/authz', { authorization: 'Bearer x' });
  t.is(a.headers['x-cache'], 'BYPASS');
  await get('/c/authz', { authorization: 'Bearer x' });
  t.is(count('/c/authz'), 2);
  t.is((await get('/c/authz')).headers['x-cache'], 'MISS', 'authorized responses were not stored');

  serve('/auth/plain', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  await get('/auth/plain', { authorization: 'Bearer x' });
  await get('/auth/plain', { authorization: 'Bearer y' });
  t.is(count('/auth/plain'), 2, 'max-age alone does not allow sharing (RFC 9111 §3.5)');
  serve('/auth/public', (_r, res, n) => reply(res, 200, { 'cache-control': 'public, max-age=60' }, `v${n}`));
  await get('/auth/public', { authorization: 'Bearer x' });
  const b = await get('/auth/public', { authorization: 'Bearer y' });
  t.is(b.headers['x-cache'], 'HIT');
  t.is(count('/auth/public'), 1);
  serve('/auth/anon', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  await get('/auth/anon');
  t.is((await get('/auth/anon', { authorization: 'Bearer x' })).headers['x-cache'], 'MISS', 'an anonymous response without public is not served to an authorized request');
});

test.serial('20 concurrent misses of one key: exactly one upstream request', async (t) => {
  serve('/c/herd', (_r, res) => setTimeout(() => reply(res, 200, { 'cache-control': 'max-age=60' }, 'herd'), 300));
  const all = await Promise.all(Array.from({ length: 20 }, () => get('/c/herd')));
  t.true(all.every((r) => r.status === 200 && r.body === 'herd'));
  t.is(count('/c/herd'), 1);
  t.is(all.filter((r) => r.headers['x-cache'] === 'MISS').length, 1);
  t.is(all.filter((r) => r.headers['x-cache'] === 'HIT').length, 19);
  // An uncacheable answer lets the waiters go upstream themselves.
  serve('/c/herd-nostore', (_r, res, n) => setTimeout(() => reply(res, 200, { 'cache-control': 'no-store' }, `v${n}`), 200));
  const five = await Promise.all(Array.from({ length: 5 }, () => get('/c/herd-nostore')));
  t.true(five.every((r) => r.status === 200));
  t.is(count('/c/herd-nostore'), 5);
});

test.serial('stale-while-revalidate: stale served at once, exactly one background refresh', async (t) => {
  // Age: 1 with max-age=1 makes the first response stale as soon as it is stored.
  serve('/c/swr', (_r, res, n) => {
    if (n === 1) return reply(res, 200, { 'cache-control': 'max-age=1, stale-while-revalidate=60', age: '1' }, 'v1');
    setTimeout(() => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`), 300);
  });
  await get('/c/swr');
  const stale = await Promise.all(Array.from({ length: 5 }, () => get('/c/swr')));
  t.true(stale.every((r) => r.body === 'v1' && r.headers['x-cache'] === 'STALE'));
  await waitFor(() => count('/c/swr') === 2, { message: 'background refresh sent' });
  const fresh = await waitFor(async () => { const r = await get('/c/swr'); return r.body === 'v2' ? r : undefined; }, { message: 'refreshed response stored' });
  t.is(fresh.headers['x-cache'], 'HIT');
  t.is(count('/c/swr'), 2, 'one refresh for all the stale hits');
});

test.serial('stale-if-error: the stale response stands in for a 5xx or a failed upstream', async (t) => {
  serve('/c/sie', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=1, stale-if-error=60', age: '1' }, 'good'));
  await get('/c/sie');
  up.mode = { kind: 'status', status: 503 };
  try {
    const a = await get('/c/sie');
    t.is(a.status, 200);
    t.is(a.body, 'good');
    t.is(a.headers['x-cache'], 'STALE');
    up.mode = { kind: 'reset' };
    const b = await get('/c/sie');
    t.is(b.body, 'good');
    t.is(b.headers['x-cache'], 'STALE');
  } finally {
    up.mode = { kind: 'ok' };
  }
  // The reset met a reused keep-alive connection: the upstream client sends a GET again once
  // on a new connection (it may only have been closed idle), which is reset too.
  t.is(count('/c/sie'), 4);
});

test.serial('must-revalidate forbids stale: the upstream error reaches the client', async (t) => {
  serve('/c/mr', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=60, stale-while-revalidate=60', age: '1', etag: '"m"' }, 'good'));
  await get('/c/mr');
  up.mode = { kind: 'status', status: 503 };
  try {
    const r = await get('/c/mr');
    t.is(r.status, 503);
    t.is(r.headers['x-cache'], 'MISS');
  } finally {
    up.mode = { kind: 'ok' };
  }
  t.is((await get('/c/mr', { 'cache-control': 'only-if-cached' })).status, 504, 'only-if-cached: would need the upstream');
});

test.serial('only-if-cached with nothing stored: 504 GW_NOT_CACHED, no upstream request', async (t) => {
  serve('/c/oic', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60' }, 'x'));
  const r = await get('/c/oic', { 'cache-control': 'only-if-cached' });
  t.is(r.status, 504);
  t.is(r.json().code, 'GW_NOT_CACHED');
  t.is(count('/c/oic'), 0);
  await get('/c/oic');
  t.is((await get('/c/oic', { 'cache-control': 'only-if-cached' })).headers['x-cache'], 'HIT');
});

test.serial('request max-age=0 forces revalidation', async (t) => {
  serve('/c/force', (r, res) => {
    if (r.headers['if-none-match'] === '"f"') return reply(res, 304, { etag: '"f"', 'cache-control': 'max-age=60' });
    reply(res, 200, { etag: '"f"', 'cache-control': 'max-age=60' }, 'force');
  });
  await get('/c/force');
  const r = await get('/c/force', { 'cache-control': 'max-age=0' });
  t.is(r.headers['x-cache'], 'REVALIDATED');
  t.is(r.body, 'force');
  t.is(count('/c/force'), 2);
});

test.serial('purge by key and by prefix on the status server', async (t) => {
  for (const p of ['/c/p/1', '/c/p/2', '/c/q']) serve(p, (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  for (const p of ['/c/p/1', '/c/p/2', '/c/q']) await get(p);
  const k = await request(`${gw.statusUrl}/cache/purge?key=${encodeURIComponent(`127.0.0.1:${gw.port}/c/p/1`)}`, { method: 'POST' });
  t.is(k.status, 200);
  t.deepEqual(k.json(), { purged: 1 });
  t.is((await get('/c/p/1')).headers['x-cache'], 'MISS');
  t.is((await get('/c/p/2')).headers['x-cache'], 'HIT');
  const p = await request(`${gw.statusUrl}/cache/purge?prefix=/c/p/`, { method: 'POST' });
  t.deepEqual(p.json(), { purged: 2 });
  t.is((await get('/c/p/2')).headers['x-cache'], 'MISS');
  t.is((await get('/c/q')).headers['x-cache'], 'HIT');
  t.is((await request(`${gw.statusUrl}/cache/purge?key=x`)).status, 405);
  t.is((await request(`${gw.statusUrl}/cache/purge`, { method: 'POST' })).status, 400);
});

test.serial('HEAD is answered from a stored GET', async (t) => {
  serve('/c/head', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60' }, 'twelve bytes'));
  await get('/c/head');
  const h = await get('/c/head', {}, 'HEAD');
  t.is(h.status, 200);
  t.is(h.headers['x-cache'], 'HIT');
  t.is(h.headers['content-length'], '12');
  t.is(h.body, '');
  t.is(count('/c/head'), 1);
});

test.serial('a client conditional request matching the stored validator gets 304 locally', async (t) => {
  serve('/c/cond', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60', etag: '"c1"' }, 'conditional'));
  await get('/c/cond');
  const r = await get('/c/cond', { 'if-none-match': '"c1"' });
  t.is(r.status, 304);
  t.is(r.headers.etag, '"c1"');
  t.is(r.headers['x-cache'], 'HIT');
  t.is(r.body, '');
  t.is((await get('/c/cond', { 'if-none-match': '"old"' })).status, 200);
  t.is(count('/c/cond'), 1);
  // A conditional miss is filled with the full response (the client's validator is not forwarded).
  serve('/c/cond2', (r2, res) => reply(res, r2.headers['if-none-match'] ? 304 : 200, { 'cache-control': 'max-age=60', etag: '"c2"' }, 'full'));
  const miss = await get('/c/cond2', { 'if-none-match': '"c2"' });
  t.is(miss.status, 200);
  t.is((await get('/c/cond2')).headers['x-cache'], 'HIT');
});

test.serial('a successful unsafe request invalidates the stored URL (RFC 9111 §4.4)', async (t) => {
  serve('/c/inv', (r, res, n) => reply(res, r.method === 'POST' ? 201 : 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  await get('/c/inv');
  t.is((await get('/c/inv')).headers['x-cache'], 'HIT');
  await request(`${gw.url}/c/inv`, { method: 'POST', body: 'x' });
  t.is((await get('/c/inv')).headers['x-cache'], 'MISS');
});

test.serial('metrics: requests by route and result, bytes held', async (t) => {
  const m = (await request(`${gw.statusUrl}/metrics`)).body;
  t.regex(m, /gatehouse_cache_requests_total\{route="c",result="hit"\} \d+/);
  t.regex(m, /gatehouse_cache_requests_total\{route="c",result="miss"\} \d+/);
  t.regex(m, /gatehouse_cache_requests_total\{route="c",result="stale"\} \d+/);
  t.regex(m, /gatehouse_cache_requests_total\{route="c",result="revalidated"\} \d+/);
  t.regex(m, /gatehouse_cache_requests_total\{route="c",result="bypass"\} \d+/);
  t.regex(m, /gatehouse_cache_bytes [1-9]\d*/);
});

test.serial('other policies\' response hooks run on every hit; the stored head is the upstream\'s', async (t) => {
  serve('/t/x', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60', 'x-secret': 's' }, 'transformed'));
  await get('/t/x');
  const hit = await get('/t/x');
  t.is(hit.headers['x-cache'], 'HIT');
  t.is(hit.headers['x-resp'], '1');
  t.is(hit.headers['x-secret'], undefined);
});

test.serial('a config reload keeps the stored responses', async (t) => {
  serve('/c/reload', (_r, res, n) => reply(res, 200, { 'cache-control': 'max-age=60' }, `v${n}`));
  await get('/c/reload');
  const routes = gw.gw.snapshot!.config.routes;
  gw.push({ upstreams: gw.gw.snapshot!.config.upstreams, routes: { ...routes, extra: { match: { paths: ['/extra'] }, upstream: 'a' } } });
  await waitFor(() => gw.gw.snapshot!.routes.has('extra'), { message: 'reload applied' });
  const r = await get('/c/reload');
  t.is(r.headers['x-cache'], 'HIT');
  t.is(count('/c/reload'), 1);
});

test.serial('LRU eviction keeps the cache within maxBytes', async (t) => {
  const small = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: { l: { match: { paths: ['/l/*'] }, upstream: 'a', policies: { cache: { maxBytes: '9kb', maxObjectSize: '1kb' } } } },
  });
  t.teardown(() => small.stop());
  const body = 'x'.repeat(900);
  for (let i = 1; i <= 4; i++) serve(`/l/${i}`, (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60' }, body));
  serve('/l/big', (_r, res) => reply(res, 200, { 'cache-control': 'max-age=60' }, 'y'.repeat(2000)));
  const g = (p: string) => request(`${small.url}${p}`);
  for (let i = 1; i <= 4; i++) await g(`/l/${i}`);
  t.is((await g('/l/4')).headers['x-cache'], 'HIT');
  t.is((await g('/l/1')).headers['x-cache'], 'MISS', 'least recently used was evicted');
  await g('/l/big');
  t.is((await g('/l/big')).headers['x-cache'], 'MISS', 'over maxObjectSize: never stored');
  const m = (await request(`${small.statusUrl}/metrics`)).body;
  const bytes = Number(/gatehouse_cache_bytes (\d+)/.exec(m)?.[1]);
  // A 900-byte body is about 2.7 KB with its headers and bookkeeping (docs "Memory"): three fit, not four.
  t.true(bytes > 2 * 2700 && bytes <= 9216, `bytes ${bytes}`);
  t.regex(m, /gatehouse_cache_evictions_total [1-9]/);
});
