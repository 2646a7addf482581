// cors end to end: preflights answered at the gateway (never forwarded), headers on real
// and on gateway-made responses, and nothing for origins not allowed.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  up.respond = (_r, res) => { res.writeHead(200, { 'access-control-allow-origin': '*', 'content-type': 'text/plain' }); res.end('ok'); };
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      app: {
        match: { paths: ['/api/*'] }, upstream: 'a',
        policies: {
          cors: { origins: ['https://app.example.com', 'https://*.example.org'], methods: ['GET', 'POST', 'DELETE'], headers: ['content-type', 'authorization'], exposeHeaders: ['x-request-id', 'ratelimit'], credentials: true, maxAge: '1h' },
          'rate-limit': { limit: 2, window: '1m', by: 'ip' },
        },
      },
      public: { match: { paths: ['/public'] }, upstream: 'a', policies: { cors: { origins: ['*'] } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

const preflight = (origin: string) => ({ method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' } });

test.serial('preflight from an allowed origin: 204 at the gateway, never forwarded', async (t) => {
  up.received.length = 0;
  const r = await http(`${gw.url}/api/items/1`, preflight('https://app.example.com'));
  t.is(r.status, 204);
  t.is(r.body, '');
  t.is(r.headers['access-control-allow-origin'], 'https://app.example.com');
  t.is(r.headers['access-control-allow-credentials'], 'true');
  t.is(r.headers['access-control-allow-methods'], 'GET, POST, DELETE');
  t.is(r.headers['access-control-allow-headers'], 'content-type, authorization');
  t.is(r.headers['access-control-max-age'], '3600');
  t.is(r.headers.vary, 'Origin');
  t.is(r.headers['access-control-expose-headers'], undefined);
  t.is(up.received.length, 0);
});

test.serial('preflight from a pattern origin passes; from another origin: 403 without CORS headers', async (t) => {
  t.is((await http(`${gw.url}/api/x`, preflight('https://team.example.org'))).status, 204);
  const bad = await http(`${gw.url}/api/x`, preflight('https://example.org.evil.net'));
  t.is(bad.status, 403);
  t.is(bad.json().code, 'GW_FORBIDDEN');
  t.is(bad.headers['access-control-allow-origin'], undefined);
  t.is(up.received.length, 0);
});

test.serial('actual requests: the gateway\'s answer replaces the upstream\'s; gateway errors carry it too', async (t) => {
  const ok = await http(`${gw.url}/api/items`, { headers: { origin: 'https://app.example.com' } });
  t.is(ok.status, 200);
  t.is(ok.headers['access-control-allow-origin'], 'https://app.example.com', 'never the upstream\'s * with credentials');
  t.is(ok.headers['access-control-allow-credentials'], 'true');
  t.is(ok.headers['access-control-expose-headers'], 'x-request-id, ratelimit');
  const evil = await http(`${gw.url}/api/items`, { headers: { origin: 'https://evil.test' } });
  t.is(evil.status, 200);
  t.is(evil.headers['access-control-allow-origin'], undefined, 'the upstream\'s * is removed too');
  // The rate limit (2 per minute) refuses the next one: the page must still be able to read the 429.
  const limited = await http(`${gw.url}/api/items`, { headers: { origin: 'https://app.example.com' } });
  t.is(limited.status, 429);
  t.is(limited.headers['access-control-allow-origin'], 'https://app.example.com');
  t.truthy(limited.headers['retry-after']);
});

test.serial('origins: [*] without credentials answers *, with no Vary', async (t) => {
  const r = await http(`${gw.url}/public`, { headers: { origin: 'https://anyone.test' } });
  t.is(r.headers['access-control-allow-origin'], '*');
  t.is(r.headers.vary, undefined);
});
