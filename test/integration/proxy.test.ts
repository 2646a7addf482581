import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http, raw } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';

let up: TestUpstream;
let up2: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  up2 = await startUpstream();
  const dead = await freePort();
  gw = await startGateway({
    upstreams: {
      a: { targets: [{ url: up.url }] },
      preserve: { targets: [{ url: up.url }], hostHeader: 'preserve' },
      weighted: { targets: [{ url: up.url, weight: 3 }, { url: up2.url, weight: 1 }] },
      hashed: { targets: [{ url: up.url }, { url: up2.url }], balance: 'consistent-hash', hashOn: 'header:x-user' },
      least: { targets: [{ url: up.url }, { url: up2.url }], balance: 'least-request' },
      dead: { targets: [{ url: `http://127.0.0.1:${dead}` }], timeouts: { connect: '500ms' } },
      slow: { targets: [{ url: up2.url }], timeouts: { response: '300ms' } },
    },
    routes: {
      echo: { match: { paths: ['/echo', '/echo/*'] }, upstream: 'a', rewrite: { stripPrefix: '/echo' } },
      items: { match: { paths: ['/items/:id'], methods: ['GET'] }, upstream: 'a', rewrite: { path: '/v2/things/:id' } },
      host: { match: { hosts: ['api.example.com'], paths: ['/h'] }, upstream: 'preserve' },
      weighted: { match: { paths: ['/w'] }, upstream: 'weighted' },
      hashed: { match: { paths: ['/hash'] }, upstream: 'hashed' },
      least: { match: { paths: ['/least'] }, upstream: 'least' },
      dead: { match: { paths: ['/dead'] }, upstream: 'dead' },
      slow: { match: { paths: ['/slow'] }, upstream: 'slow' },
      transformed: { match: { paths: ['/t'] }, upstream: 'a', policies: { 'request-transform': { headers: { set: { 'x-added': 'yes' }, remove: ['x-secret'] } }, 'response-transform': { headers: { set: { 'x-resp': '1' } } } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); await up2?.close(); });
test.beforeEach(() => { up.received.length = 0; up2.received.length = 0; up.mode = { kind: 'ok' }; up2.mode = { kind: 'ok' }; });

test.serial('forwards method, stripped path, raw query and body; sets forwarding headers', async (t) => {
  const r = await http(`${gw.url}/echo/a/b?x=1&y=%20z`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  t.is(r.status, 200);
  const got = up.received[0]!;
  t.is(got.method, 'POST');
  t.is(got.url, '/a/b?x=1&y=%20z');
  t.is(got.body.toString(), 'hello');
  t.is(got.headers['x-forwarded-for'], '127.0.0.1');
  t.is(got.headers['x-forwarded-proto'], 'http');
  t.is(got.headers['x-forwarded-host'], `127.0.0.1:${gw.port}`);
  t.regex(String(got.headers['x-request-id']), /^[0-9a-f]{32}$/);
  t.is(r.headers['x-request-id'], got.headers['x-request-id']);
  t.regex(String(got.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.is(String(got.headers.traceparent).slice(3, 35), String(got.headers['x-request-id']), 'a new trace takes the request id as trace id');
  t.is(got.headers.host, new URL(up.url).host, 'Host is the upstream\'s by default');
});

test.serial('stripPrefix of the whole path forwards /', async (t) => {
  await http(`${gw.url}/echo`);
  t.is(up.received[0]!.url, '/');
});

test.serial('path rewrite template uses route params', async (t) => {
  const r = await http(`${gw.url}/items/42?q=1`);
  t.is(r.status, 200);
  t.is(up.received[0]!.url, '/v2/things/42?q=1');
});

test.serial('a valid client X-Request-Id is kept, an invalid one replaced; traceparent continues the trace', async (t) => {
  await http(`${gw.url}/echo`, { headers: { 'x-request-id': 'client-id-12345', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  await http(`${gw.url}/echo`, { headers: { 'x-request-id': 'bad id with spaces' } });
  t.is(up.received[0]!.headers['x-request-id'], 'client-id-12345');
  const tp = String(up.received[0]!.headers.traceparent);
  t.true(tp.startsWith('00-0af7651916cd43dd8448eb211c80319c-'));
  t.false(tp.includes('b7ad6b7169203331'), 'the gateway hop gets its own span id');
  t.not(up.received[1]!.headers['x-request-id'], 'bad id with spaces');
});

test.serial('hop-by-hop and Connection-named headers are dropped; gateway headers survive Connection tricks', async (t) => {
  up.respond = (_r, res) => { res.writeHead(200, { connection: 'x-up-private', 'x-up-private': 'secret', 'keep-alive': 'timeout=5', 'x-ok': '1' }); res.end('ok'); };
  try {
    // A raw request: HTTP clients (undici included) do not send arbitrary Connection tokens.
    const text = await raw(gw.port, 'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: x-client-private, x-request-id, x-forwarded-for\r\nX-Client-Private: p\r\nTE: trailers\r\nProxy-Authorization: Basic abc\r\n\r\n');
    const head = text.split('\r\n\r\n')[0]!.toLowerCase();
    const r = { headers: { 'x-up-private': head.includes('x-up-private') ? 'present' : undefined, 'x-ok': head.includes('x-ok: 1') ? '1' : undefined } };
    const got = up.received[0]!;
    t.is(got.headers['x-client-private'], undefined);
    t.is(got.headers.te, undefined);
    t.is(got.headers['proxy-authorization'], undefined);
    t.truthy(got.headers['x-request-id'], 'Connection cannot remove the gateway\'s X-Request-Id');
    t.is(got.headers['x-forwarded-for'], '127.0.0.1');
    t.is(r.headers['x-up-private'], undefined);
    t.is(r.headers['x-ok'], '1');
  } finally { delete up.respond; }
});

test.serial('Host preserved when configured; routing by host', async (t) => {
  const r = await http(`${gw.url}/h`, { headers: { host: 'api.example.com' } });
  t.is(r.status, 200);
  t.is(up.received[0]!.headers.host, 'api.example.com');
  const miss = await http(`${gw.url}/h`, { headers: { host: 'other.example.com' } });
  t.is(miss.status, 404);
});

test.serial('no route: 404 problem+json with the documented code and no internals', async (t) => {
  const r = await http(`${gw.url}/nothing-here`);
  t.is(r.status, 404);
  t.is(r.headers['content-type'], 'application/problem+json');
  const b = r.json();
  t.is(b.code, 'GW_ROUTE_NOT_FOUND');
  t.is(b.status, 404);
  t.is(b.requestId, r.headers['x-request-id']);
  t.truthy(b.type && b.title && b.detail);
});

test.serial('method not in the route\'s list does not match', async (t) => {
  const r = await http(`${gw.url}/items/1`, { method: 'DELETE' });
  t.is(r.status, 404);
  t.is(up.received.length, 0);
});

test.serial('weighted round-robin spreads 3:1 exactly over 40 requests', async (t) => {
  for (let i = 0; i < 40; i++) t.is((await http(`${gw.url}/w`)).status, 200);
  t.is(up.received.length, 30);
  t.is(up2.received.length, 10);
});

test.serial('consistent hash sends one key to one target', async (t) => {
  for (let i = 0; i < 10; i++) await http(`${gw.url}/hash`, { headers: { 'x-user': 'alice' } });
  t.true(up.received.length === 10 || up2.received.length === 10);
});

test.serial('least-request uses both targets', async (t) => {
  await Promise.all(Array.from({ length: 40 }, () => http(`${gw.url}/least`)));
  t.true(up.received.length > 0 && up2.received.length > 0);
  t.is(up.received.length + up2.received.length, 40);
});

test.serial('dead upstream: 502 GW_UPSTREAM_UNAVAILABLE without its address', async (t) => {
  const r = await http(`${gw.url}/dead`);
  t.is(r.status, 502);
  t.is(r.json().code, 'GW_UPSTREAM_UNAVAILABLE');
  t.false(r.body.includes('127.0.0.1'));
  t.false(/ECONNREFUSED|Error|at /.test(r.body));
});

test.serial('hanging upstream: 504 GW_UPSTREAM_TIMEOUT after the response timeout', async (t) => {
  up2.mode = { kind: 'hang' };
  const start = Date.now();
  const r = await http(`${gw.url}/slow`);
  t.is(r.status, 504);
  t.is(r.json().code, 'GW_UPSTREAM_TIMEOUT');
  t.true(Date.now() - start < 5000);
});

test.serial('upstream resets the connection: 502', async (t) => {
  up.mode = { kind: 'reset' };
  const r = await http(`${gw.url}/echo`);
  t.is(r.status, 502);
});

test.serial('large bodies stream both ways unchanged', async (t) => {
  const big = Buffer.alloc(5 * 1024 * 1024, 'abcdefghij');
  up.respond = (r, res) => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(r.body); };
  try {
    const r = await http(`${gw.url}/echo/upload`, { method: 'PUT', body: big });
    t.is(r.status, 200);
    t.is(up.received[0]!.body.length, big.length);
    t.is(r.body.length, big.length);
  } finally { delete up.respond; }
});

test.serial('request-transform and response-transform policies', async (t) => {
  const r = await http(`${gw.url}/t`, { headers: { 'x-secret': 's' } });
  t.is(up.received[0]!.headers['x-added'], 'yes');
  t.is(up.received[0]!.headers['x-secret'], undefined);
  t.is(r.headers['x-resp'], '1');
});
