/**
 * One regression test per class of http-tests/cache-tests failure fixed in the cache policy
 * (docs/policies/cache.md "Conformance"), through a real gateway and a real origin server:
 * strict HTTP-dates for Expires, Age as a list, a 304 that carries Content-Length,
 * targeted cache control (CDN-Cache-Control, RFC 9213) and interim (1xx) responses. `npm run cache-tests` runs the
 * whole suite; these keep `npm test` honest without it.
 */
import test from 'ava';
import http from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type Received, type TestUpstream } from '../helpers/upstream.ts';
import { http as request } from '../helpers/http.ts';

type Handler = (r: Received, res: http.ServerResponse) => void;

let up: TestUpstream;
let gw: TestGateway;
const handlers = new Map<string, Handler>();
const serve = (path: string, h: Handler): void => { handlers.set(path, h); };
const count = (path: string): number => up.received.filter((r) => r.url === path).length;
const get = (path: string) => request(`${gw.url}${path}`);

function reply(res: http.ServerResponse, status: number, headers: Record<string, string | string[]>, body = 'body'): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** Two GETs; what the second one said and how many requests reached the origin. */
async function twice(path: string, headers: Record<string, string | string[]>): Promise<{ second: string | string[] | undefined; upstream: number }> {
  serve(path, (_r, res) => reply(res, 200, headers));
  const a = await get(path);
  if (a.status !== 200) throw new Error(`${path}: first request got ${a.status}`);
  const b = await get(path);
  return { second: b.headers['x-cache'], upstream: count(path) };
}

test.before(async () => {
  up = await startUpstream({ respond: (r, res) => { const h = handlers.get(r.url); if (h) h(r, res); else reply(res, 404, {}, 'no handler'); } });
  gw = await startGateway({
    upstreams: { o: { targets: [{ url: up.url }], timeouts: { response: '2s' } } },
    routes: {
      c: { match: { paths: ['/c/*'] }, upstream: 'o', policies: { cache: {} } },
      plain: { match: { paths: ['/plain/*'] }, upstream: 'o', policies: { cache: { targeted: [] } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

test('Expires that is not an HTTP-date means already expired (RFC 9111 §5.3), whatever Date.parse makes of it', async (t) => {
  const future = 'Thu, 18 Aug 2050 02:01:18';
  t.deepEqual(await twice('/c/exp-ok', { expires: `${future} GMT` }), { second: 'HIT', upstream: 1 }, 'a valid future Expires is fresh');
  for (const [i, bad] of [`${future} UTC`, 'Thu 18 Aug 2050 02:01:18 GMT', 'Thu, 18-Aug-2050 02:01:18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT'].entries()) {
    t.deepEqual(await twice(`/c/exp-bad-${i}`, { expires: bad }), { second: 'MISS', upstream: 2 }, bad);
  }
});

test('Age given as a list counts by its first member (RFC 9111 §5.1)', async (t) => {
  t.deepEqual(await twice('/c/age-old-first', { 'cache-control': 'max-age=3600', age: '7200, 0' }), { second: 'MISS', upstream: 2 }, 'older than max-age: stale');
  t.deepEqual(await twice('/c/age-young-first', { 'cache-control': 'max-age=3600', age: '0, 7200' }), { second: 'HIT', upstream: 1 });
});

test('a 304 with a Content-Length freshens the stored response; the client gets the stored body and its length', async (t) => {
  serve('/c/304-length', (r, res) => {
    if (r.headers['if-none-match'] === '"v1"') { res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60', 'content-length': '10' }); res.end(); return; }
    reply(res, 200, { etag: '"v1"', 'cache-control': 'max-age=0' }, 'stored body');
  });
  t.is((await get('/c/304-length')).headers['x-cache'], 'MISS');
  const b = await get('/c/304-length');
  t.is(b.status, 200);
  t.is(b.headers['x-cache'], 'REVALIDATED');
  t.is(b.body, 'stored body');
  t.is(b.headers['content-length'], String('stored body'.length));
  t.is((await get('/c/304-length')).headers['x-cache'], 'HIT', 'freshened by the 304: max-age=60');
  t.is(count('/c/304-length'), 2);
});

test('CDN-Cache-Control (RFC 9213) replaces Cache-Control and Expires for this cache; invalid is ignored; targeted: [] turns it off', async (t) => {
  t.deepEqual(await twice('/c/cdn-short', { 'cache-control': 'max-age=3600', 'cdn-cache-control': 'max-age=0' }), { second: 'MISS', upstream: 2 });
  t.deepEqual(await twice('/c/cdn-private', { 'cache-control': 'max-age=3600', 'cdn-cache-control': 'private' }), { second: 'MISS', upstream: 2 });
  t.deepEqual(await twice('/c/cdn-long', { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }), { second: 'HIT', upstream: 1 });
  t.deepEqual(await twice('/c/cdn-expires', { 'cdn-cache-control': 'max-age=60', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }), { second: 'HIT', upstream: 1 }, 'a past Expires does not count');
  t.deepEqual(await twice('/c/cdn-invalid', { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age="60"' }), { second: 'MISS', upstream: 2 }, 'wrong type: the field is ignored');
  t.deepEqual(await twice('/plain/cdn', { 'cache-control': 'max-age=3600', 'cdn-cache-control': 'max-age=0' }), { second: 'HIT', upstream: 1 }, 'targeted: [] obeys Cache-Control only');
  const r = await get('/c/cdn-long');
  t.is(r.headers['cdn-cache-control'], 'max-age=60', 'the field is passed on');
});

/** A GET with node:http, which reports interim responses ('information'). */
function getWithInterim(path: string): Promise<{ interim: Array<{ status: number; headers: http.IncomingHttpHeaders }>; status: number; xCache: string | string[] | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const interim: Array<{ status: number; headers: http.IncomingHttpHeaders }> = [];
    const req = http.get(`${gw.url}${path}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ interim, status: res.statusCode!, xCache: res.headers['x-cache'], body }));
    });
    req.on('information', (i) => interim.push({ status: i.statusCode, headers: i.headers }));
    req.on('error', reject);
  });
}

test('103 Early Hints reaches the client before the final response; only the final response is stored', async (t) => {
  serve('/c/early-hints', (_r, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style', 'x-hint': 'h1' });
    setTimeout(() => reply(res, 200, { 'cache-control': 'max-age=60' }, 'final'), 20);
  });
  const a = await getWithInterim('/c/early-hints');
  t.deepEqual(a.interim.map((i) => [i.status, i.headers.link, i.headers['x-hint']]), [[103, '</style.css>; rel=preload; as=style', 'h1']]);
  t.is(a.status, 200);
  t.is(a.body, 'final');
  const b = await getWithInterim('/c/early-hints');
  t.is(b.xCache, 'HIT');
  t.is(b.status, 200);
  t.is(b.body, 'final');
  t.deepEqual(b.interim, [], 'a hit has no interim response: none was stored');
  t.is(count('/c/early-hints'), 1);
});
