/**
 * ip-restriction through the whole gateway. The client address comes from the socket, or
 * from X-Forwarded-For only when the socket peer is a trusted proxy: the test client binds
 * 127.0.0.2 (trusted) or 127.0.0.1 (not trusted) as its local address to be either.
 */
import test from 'ava';
import nodeHttp from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';

let up: TestUpstream;
let gw: TestGateway;

const TRUSTED = '127.0.0.2';
const UNTRUSTED = '127.0.0.1';

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    node: { trustedProxies: [`${TRUSTED}/32`, '10.0.0.0/8'] },
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      allow: { match: { paths: ['/allow'] }, upstream: 'a', policies: { 'ip-restriction': { allow: ['203.0.113.0/24', '2001:db8:1::/48'], deny: ['203.0.113.66'] } } },
      deny: { match: { paths: ['/deny'] }, upstream: 'a', policies: { 'ip-restriction': { deny: ['198.51.100.0/24', '2001:db8:bad::/48', '::ffff:192.0.2.0/120'] } } },
      local: { match: { paths: ['/local'] }, upstream: 'a', policies: { 'ip-restriction': { deny: [`${UNTRUSTED}/32`] } } },
      ua: { match: { paths: ['/ua'] }, upstream: 'a', policies: { 'ip-restriction': { denyUserAgents: ['sqlmap', 'curl/*', '*a*a*a*a*a*a*a*a*a*a*a*a*b'], denyReferers: ['*://evil.example/*'] } } },
      shadow: { match: { paths: ['/shadow'] }, upstream: 'a', policies: { 'ip-restriction': { enforce: false, allow: ['203.0.113.0/24'] } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });
test.beforeEach(() => { up.received.length = 0; });

/** GET from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function from(local: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(`${gw.url}${path}`, { localAddress: local, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

test.serial('the socket address decides when the peer is not a trusted proxy; denied requests never reach the upstream', async (t) => {
  t.is(await from(UNTRUSTED, '/local'), 403);
  t.is(await from(TRUSTED, '/local'), 200);
  const r = await http(`${gw.url}/local`);
  t.is(r.status, 403);
  t.is(r.json().code, 'GW_FORBIDDEN');
  t.is(r.headers['content-type'], 'application/problem+json');
  t.is(up.received.length, 1);
});

test.serial('X-Forwarded-For from an untrusted peer is ignored (no spoofing into the allow list)', async (t) => {
  t.is(await from(UNTRUSTED, '/allow', { 'x-forwarded-for': '203.0.113.5' }), 403);
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '203.0.113.5' }), 200);
  // ...and cannot be used to dodge a deny either: the untrusted peer is judged by its socket.
  t.is(await from(UNTRUSTED, '/local', { 'x-forwarded-for': '203.0.113.5' }), 403);
});

test.serial('a trusted chain is read right to left; entries the client wrote are never believed', async (t) => {
  // The client prepended an allowed address; the proxy appended the real one.
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '203.0.113.5, 198.51.100.7' }), 403);
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '203.0.113.5, 198.51.100.7' }), 403);
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '198.51.100.7, 203.0.113.5' }), 200);
  // Trusted hops (10.0.0.0/8) are skipped: the client is the first untrusted entry from the right.
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '198.51.100.7, 203.0.113.5, 10.1.1.1, 10.2.2.2' }), 200);
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '203.0.113.5, 198.51.100.7, 10.1.1.1' }), 403);
});

test.serial('deny wins over allow', async (t) => {
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '203.0.113.66' }), 403);
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '203.0.113.65' }), 200);
});

test.serial('a malformed X-Forwarded-For from a trusted proxy fails closed, even on a deny-only route', async (t) => {
  for (const xff of ['203.0.113.5, bogus', '203.0.113.5, 010.0.0.1', 'unknown', '203.0.113.5, 1.2.3.4.5']) {
    t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': xff }), 403, xff);
    t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': xff }), 403, xff);
  }
  t.is(up.received.length, 0);
});

test.serial('IPv4-mapped IPv6 and IPv6 CIDRs', async (t) => {
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '::ffff:198.51.100.7' }), 403, 'mapped address vs IPv4 rule');
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '192.0.2.9' }), 403, 'IPv4 address vs mapped rule');
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '2001:db8:bad:ffff::1' }), 403);
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '[2001:DB8:BAD::1]:443' }), 403, 'bracketed, upper-case, with port');
  t.is(await from(TRUSTED, '/deny', { 'x-forwarded-for': '2001:db8:bad0::1' }), 200);
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '2001:db8:1:abcd::42' }), 200);
  t.is(await from(TRUSTED, '/allow', { 'x-forwarded-for': '2001:db8:2::42' }), 403);
});

test.serial('User-Agent and Referer rules; a pathological User-Agent is answered fast', async (t) => {
  t.is((await http(`${gw.url}/ua`, { headers: { 'user-agent': 'Mozilla/5.0 SQLMAP/1.7' } })).status, 403);
  t.is((await http(`${gw.url}/ua`, { headers: { 'user-agent': 'curl/8.4.0' } })).status, 403);
  t.is((await http(`${gw.url}/ua`, { headers: { 'user-agent': 'Mozilla/5.0', referer: 'https://evil.example/page' } })).status, 403);
  t.is((await http(`${gw.url}/ua`, { headers: { 'user-agent': 'Mozilla/5.0', referer: 'https://good.example/' } })).status, 200);
  // 12 KB of 'a' against a many-star glob: exponential for a backtracking matcher, linear here.
  const start = performance.now();
  t.is((await http(`${gw.url}/ua`, { headers: { 'user-agent': 'a'.repeat(12 * 1024) } })).status, 200);
  t.true(performance.now() - start < 3000, `${Math.round(performance.now() - start)} ms`);
});

test.serial('shadow mode: a request outside the allow list passes and is counted', async (t) => {
  t.is(await from(UNTRUSTED, '/shadow'), 200);
  t.is(up.received.length, 1);
  const metrics = await http(`${gw.statusUrl}/metrics`);
  t.regex(metrics.body, /gatehouse_policy_decisions_total\{route="shadow",policy="ip-restriction",outcome="shadow_deny"\} 1/);
  t.regex(metrics.body, /gatehouse_policy_decisions_total\{route="local",policy="ip-restriction",outcome="deny"\} \d+/);
});
