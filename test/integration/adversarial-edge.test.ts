/**
 * Adversarial suite: the edge, round 2 (docs/security.md). Host is input (invalid Host → 400,
 * trailing-dot FQDN, the port in the cache key, the normalised authority upstream), gateway
 * headers spelled with underscores, transfer codings the gateway cannot decode, CONNECT,
 * and an upstream that switches protocols nobody asked for. Raw sockets, real upstreams.
 */
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { raw } from '../helpers/http.ts';
import { parseResponses, assertProblem } from '../helpers/adversary.ts';

let up: TestUpstream;
let reflect: http.Server;
let reflectHits = 0;
let heurHits = 0;
let switcher: net.Server;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  // An upstream that builds links from the Host it receives (the cache-poisoning shape).
  reflect = http.createServer((req, res) => {
    reflectHits++;
    if (req.url!.startsWith('/vary')) { res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'x-lang' }); res.end(`lang ${req.headers['x-lang'] ?? 'default'}`); return; }
    if (req.url!.startsWith('/heur')) { heurHits++; res.writeHead(200, { 'content-type': 'text/plain' }); res.end(`for ${req.headers.cookie ?? 'nobody'}`); return; }
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end(`link: http://${req.headers.host}/next`);
  });
  reflect.listen(0, '127.0.0.1');
  await once(reflect, 'listening');
  // An upstream that answers every request with 101 Switching Protocols.
  switcher = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nraw tunnel bytes'));
  });
  switcher.listen(0, '127.0.0.1');
  await once(switcher, 'listening');
  gw = await startGateway({
    upstreams: {
      a: { targets: [{ url: up.url }] },
      reflect: { targets: [{ url: `http://127.0.0.1:${(reflect.address() as net.AddressInfo).port}` }], hostHeader: 'preserve' },
      switcher: { targets: [{ url: `http://127.0.0.1:${(switcher.address() as net.AddressInfo).port}` }] },
    },
    routes: {
      fqdn: { match: { hosts: ['api.example'], paths: ['/*'] }, upstream: 'a', policies: { 'request-transform': { headers: { set: { 'x-route': 'fqdn' } } } } },
      cached: { match: { paths: ['/page', '/heur', '/heur/*', '/vary'] }, upstream: 'reflect', policies: { cache: { ttl: '60s' } } },
      switch: { match: { paths: ['/switch'] }, upstream: 'switcher' },
      public: { match: { paths: ['/*'] }, upstream: 'a' },
    },
  } as never);
});

test.after.always(async () => {
  await gw?.stop();
  await up?.close();
  reflect?.closeAllConnections();
  await new Promise<void>((r) => (reflect ? reflect.close(() => r()) : r()));
  await new Promise<void>((r) => (switcher ? switcher.close(() => r()) : r()));
});

const get = (path: string, headers: string[]): string => [`GET ${path} HTTP/1.1`, ...headers, 'Connection: close', '', ''].join('\r\n');
async function one(data: string) { return parseResponses(await raw(gw.port, data)); }

// RFC 9110 §7.2, RFC 3986 §3.2.2/§3.2.3: nginx answers these with 400 too.
const INVALID_HOSTS = {
  'userinfo': 'user@api.example',
  'path in host': 'api.example/admin',
  'backslash': 'api.example\\x',
  'space inside': 'api example',
  'percent-encoded': 'api%2eexample',
  'port not numeric': 'api.example:8o',
  'port too large': 'api.example:65536',
  'port too long': 'api.example:000080',
  'two ports': 'api.example:80:81',
  'empty label': 'api..example',
  'leading dot': '.api.example',
  'unclosed IPv6 literal': '[::1',
  'IPv6 without brackets': '::1',
  'IPv6 zone id': '[fe80::1%25eth0]',
  'bad IPv6 literal': '[1:2:3:4:5:6:7:8:9]',
  'comma (two hosts)': 'a.example,b.example',
  'empty': '',
};
for (const [name, host] of Object.entries(INVALID_HOSTS)) {
  test.serial(`invalid Host → 400: ${name}`, async (t) => {
    const before = up.received.length;
    const [r] = await one(get('/x', [`Host: ${host}`]));
    assertProblem(t, r!, 400, 'GW_BAD_REQUEST');
    t.is(up.received.length, before, 'nothing reached the upstream');
  });
}

test.serial('valid Host spellings are accepted: upper case, IPv4, IPv6, port, empty port', async (t) => {
  for (const host of ['API.Example', '127.0.0.1', '[::1]', 'api.example:8080', 'api.example:']) {
    const [r] = await one(get('/ok', [`Host: ${host}`]));
    t.is(r!.status, 200, host);
  }
});

test.serial('a trailing-dot FQDN matches its host route, and the upstream sees the name without the dot', async (t) => {
  up.received.length = 0;
  const [r] = await one(get('/x', ['Host: API.example.']));
  t.is(r!.status, 200);
  const h = up.received[0]!.headers;
  t.is(h['x-route'], 'fqdn');
  t.is(h['x-forwarded-host'], 'api.example');
  // Two trailing dots is an empty label: refused.
  const [bad] = await one(get('/x', ['Host: api.example..']));
  assertProblem(t, bad!, 400, 'GW_BAD_REQUEST');
});

test.serial('the cache key has the port: a Host port an upstream reflects cannot poison what others get', async (t) => {
  const [evil] = await one(get('/page', ['Host: shop.example:6666']));
  t.is(evil!.body, 'link: http://shop.example:6666/next');
  const [victim] = await one(get('/page', ['Host: shop.example']));
  t.is(victim!.body, 'link: http://shop.example/next');
  const [again] = await one(get('/page', ['Host: shop.example']));
  t.is(again!.body, 'link: http://shop.example/next');
  t.is(reflectHits, 2, 'the second plain request was a hit of its own entry');
  // Default port and case are one key with the plain spelling.
  const [same] = await one(get('/page', ['Host: SHOP.example:80']));
  t.is(same!.body, 'link: http://shop.example/next');
  t.is(reflectHits, 2);
});

test.serial('gateway-owned headers spelled with underscores never reach the upstream', async (t) => {
  up.received.length = 0;
  const [r] = await one(get('/x', ['Host: gw.test', 'X_Forwarded_For: 10.0.0.1', 'X_Real_IP: 10.0.0.1', 'X_Forwarded_Host: internal.example', 'X_Forwarded_Proto: https', 'X_Request_Id: forged', 'X-Forwarded_Port: 1']));
  t.is(r!.status, 200);
  const names = Object.keys(up.received[0]!.headers);
  t.deepEqual(names.filter((k) => k.includes('_')), []);
  t.is(up.received[0]!.headers['x-forwarded-for'], '127.0.0.1');
});

test.serial('Transfer-Encoding with a coding besides chunked → 501, connection closed, nothing forwarded', async (t) => {
  up.received.length = 0;
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const text = await raw(gw.port, ['POST /x HTTP/1.1', 'Host: gw.test', 'Transfer-Encoding: gzip, chunked', '', body].join('\r\n') + 'GET /after HTTP/1.1\r\nHost: gw.test\r\n\r\n');
  const rs = parseResponses(text);
  t.is(rs.length, 1, 'nothing after it on the connection is answered');
  assertProblem(t, rs[0]!, 501, 'GW_NOT_IMPLEMENTED');
  t.is(up.received.length, 0);
});

test.serial('CONNECT is answered with a problem+json 405, never a silent close', async (t) => {
  const [r] = await one(['CONNECT internal.example:443 HTTP/1.1', 'Host: internal.example:443', '', ''].join('\r\n'));
  t.truthy(r, 'an answer came back');
  assertProblem(t, r!, 405, 'GW_METHOD_NOT_ALLOWED');
});

test.serial('an upstream 101 nobody asked for → 502, its tunnel bytes never reach the client', async (t) => {
  const text = await raw(gw.port, get('/switch', ['Host: gw.test']));
  const [r] = parseResponses(text);
  assertProblem(t, r!, 502, 'GW_UPSTREAM_UNAVAILABLE');
  t.false(text.includes('raw tunnel bytes'));
});

test.serial('a GET with a body is neither served from nor stored in the cache', async (t) => {
  const [warm] = await one(get('/page', ['Host: body.example']));
  t.is(warm!.headers['x-cache']?.[0], 'MISS');
  const hits = reflectHits;
  const withBody = ['GET /page HTTP/1.1', 'Host: body.example', 'Content-Length: 5', 'Connection: close', '', 'hello'].join('\r\n');
  const [r] = parseResponses(await raw(gw.port, withBody));
  t.is(r!.headers['x-cache']?.[0], 'BYPASS');
  t.is(reflectHits, hits + 1, 'it went upstream');
  const chunked = ['GET /page HTTP/1.1', 'Host: body2.example', 'Transfer-Encoding: chunked', 'Connection: close', '', '5\r\nhello\r\n0\r\n\r\n'].join('\r\n');
  const [c] = parseResponses(await raw(gw.port, chunked));
  t.is(c!.headers['x-cache']?.[0], 'BYPASS');
  const [after] = await one(get('/page', ['Host: body2.example']));
  t.is(after!.headers['x-cache']?.[0], 'MISS', 'the bodied request stored nothing');
});

test.serial('heuristic freshness (ttl) is not applied to responses to requests with Cookie or Authorization', async (t) => {
  // No explicit freshness: only the route's ttl could make it fresh.
  const [a] = await one(get('/heur/1', ['Host: shop.example', 'Cookie: session=alice']));
  t.is(a!.body, 'for session=alice');
  const [b] = await one(get('/heur/1', ['Host: shop.example']));
  t.is(b!.body, 'for nobody', 'alice\'s page was not stored for others');
  const [c] = await one(get('/heur/1', ['Host: shop.example']));
  t.is(c!.headers['x-cache']?.[0], 'HIT', 'without credentials the heuristic still applies');
  t.is(heurHits, 2);
});

test.serial('the status port\'s purge refuses browsers (Origin / Sec-Fetch-Site): a web page cannot purge by CSRF', async (t) => {
  for (const h of [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null' }]) {
    const r = await fetch(`${gw.statusUrl}/cache/purge?prefix=/`, { method: 'POST', headers: h });
    t.is(r.status, 403, JSON.stringify(h));
    await r.text();
  }
  const [hit] = await one(get('/page', ['Host: shop.example']));
  t.is(hit!.headers['x-cache']?.[0], 'HIT', 'nothing was purged');
  const ok = await new Promise<number>((resolve) => {
    const s = net.connect(Number(new URL(gw.statusUrl).port), '127.0.0.1', () => s.write('POST /cache/purge?prefix=/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    let buf = '';
    s.on('data', (d) => { buf += d; });
    s.on('close', () => resolve(Number(buf.slice(9, 12))));
  });
  t.is(ok, 200, 'a loopback tool without Origin may purge');
});

test.serial('trustRequestId: false → a client cannot choose the request id; the default keeps it', async (t) => {
  const strict = await startGateway({ node: { trustRequestId: false }, upstreams: { a: { targets: [{ url: up.url }] } }, routes: { all: { match: { paths: ['/*'] }, upstream: 'a' } } } as never);
  try {
    up.received.length = 0;
    const [r] = parseResponses(await raw(strict.port, get('/x', ['Host: gw.test', 'X-Request-Id: chosen-by-client-1'])));
    t.is(r!.status, 200);
    t.not(r!.headers['x-request-id']?.[0], 'chosen-by-client-1');
    t.not(up.received[0]!.headers['x-request-id'], 'chosen-by-client-1');
    const [d] = await one(get('/x', ['Host: gw.test', 'X-Request-Id: chosen-by-client-1']));
    t.is(d!.headers['x-request-id']?.[0], 'chosen-by-client-1', 'default: a well-formed client id is reused');
  } finally {
    await strict.stop();
  }
});

test.serial('Vary uses the headers the upstream received: a Connection-named header cannot store the default under a variant', async (t) => {
  const [evil] = await one(get('/vary', ['Host: v.example', 'X-Lang: fr', 'Connection: x-lang']));
  t.is(evil!.body, 'lang default', 'the upstream never saw X-Lang');
  const [victim] = await one(get('/vary', ['Host: v.example', 'X-Lang: fr']));
  t.is(victim!.body, 'lang fr', 'a French client gets French, not the default stored by the attacker');
  const [plain] = await one(get('/vary', ['Host: v.example']));
  t.is(plain!.body, 'lang default');
  t.is(plain!.headers['x-cache']?.[0], 'HIT', 'the attacker\'s response was stored as the variant without X-Lang');
});
