/**
 * One response head for every answer (pipeline/response-head.ts): a proxied response, a
 * local error (401 from key-auth) and a cache HIT on the same route carry the gateway's
 * headers in the same relative order, with the response hooks applied the same way and the
 * gateway's X-Request-Id last, which no hook can remove or forge.
 */
import test from 'ava';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let up: TestUpstream;
let gw: TestGateway;
const KEY = 'head-key';

test.before(async () => {
  up = await startUpstream({
    respond: (_r, res) => {
      // The upstream's own versions of gateway headers, and a hop-by-hop one it names.
      res.writeHead(200, {
        'content-type': 'text/plain', 'cache-control': 'max-age=60', 'x-request-id': 'upstream-id',
        'ratelimit-policy': 'upstream-policy', 'x-up': '1', 'x-hop': 'drop-me', connection: 'x-hop',
      });
      res.end('body');
    },
  });
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: { alice: { keys: [`sha256:${createHash('sha256').update(KEY).digest('hex')}`] } },
    routes: {
      r: {
        match: { paths: ['/r'] }, upstream: 'a',
        policies: {
          'key-auth': {},
          'rate-limit': { limit: 1000, window: '1m' },
          cache: {},
          cors: { origins: ['https://app.example.com'] },
          'response-transform': { headers: { set: { 'x-hooked': 'yes', 'x-request-id': 'forged' }, remove: ['x-up'] } },
        },
      },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

interface Head { status: number; names: string[]; headers: http.IncomingHttpHeaders; body: string }

function get(headers: Record<string, string>): Promise<Head> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}/r`, { headers: { origin: 'https://app.example.com', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, names: res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()), headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** The gateway's headers on this route, in the documented order: constant, per request (in the order the policies' phases set them), hooks, request id. */
const GATEWAY = ['ratelimit-policy', 'ratelimit', 'x-cache', 'x-hooked', 'access-control-allow-origin', 'x-request-id'];
/** Those in `names`, in the order they came. */
const gatewayOrder = (names: string[]): string[] => names.filter((n) => GATEWAY.includes(n));

test.serial('proxied, local error and cache hit: same gateway headers, same order, hooks applied alike', async (t) => {
  const denied = await get({});
  const miss = await get({ 'x-api-key': KEY });
  const hit = await get({ 'x-api-key': KEY });
  t.is(denied.status, 401);
  t.is(miss.status, 200);
  t.is(miss.headers['x-cache'], 'MISS');
  t.is(hit.headers['x-cache'], 'HIT');
  t.is(up.received.length, 1, 'the hit came from the cache');

  for (const [name, r] of Object.entries({ denied, miss, hit })) {
    const order = gatewayOrder(r.names);
    // The same relative order: what each carries is the documented list, in its order.
    t.deepEqual(order, GATEWAY.filter((n) => order.includes(n)), `${name}: ${order.join(', ')}`);
    t.is(order.at(-1), 'x-request-id', `${name}: the request id comes last, after the hooks`);
    t.is(r.names.filter((n) => n === 'x-request-id').length, 1, `${name}: one request id`);
    t.regex(String(r.headers['x-request-id']), /^[0-9a-f]{32}$/, `${name}: the gateway's id, not the hook's or the upstream's`);
    t.is(r.headers['ratelimit-policy'], '"default";q=1000;w=60', `${name}: the route's constant header replaces the upstream's`);
    t.is(r.headers['x-hooked'], 'yes', `${name}: response-transform ran`);
    t.is(r.headers['access-control-allow-origin'], 'https://app.example.com', `${name}: cors ran`);
    t.is(r.headers['x-up'], undefined, `${name}: the hook's removal applies`);
    t.is(r.headers['x-hop'], undefined, `${name}: hop-by-hop fields never reach the client`);
  }
  // Every gateway header is on the proxied response and the hit; the 401 comes before rate-limit and cache ran.
  t.deepEqual(gatewayOrder(miss.names), GATEWAY);
  t.deepEqual(gatewayOrder(hit.names), GATEWAY);
  t.deepEqual(gatewayOrder(denied.names), ['ratelimit-policy', 'x-hooked', 'access-control-allow-origin', 'x-request-id']);
  t.is(JSON.parse(denied.body).requestId, denied.headers['x-request-id'], 'the body names the id the head carries');
});
