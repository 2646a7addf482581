/**
 * The status port's write gate (nodes/src/telemetry/status-auth.ts) with `node.purgeToken`:
 * remote purges with `Authorization: Bearer <token>`, loopback without one, never from a
 * browser. "Remote" is real: the status server binds this machine's non-loopback address and
 * the client connects from it, so the gateway sees a non-loopback peer. The multi-worker
 * front (workers/status-front.ts) applies the same gate before it asks any worker.
 */
import test from 'ava';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { StatusFront } from '../../nodes/src/workers/status-front.ts';
import { StatusWriteGate } from '../../nodes/src/telemetry/status-auth.ts';

const TOKEN = randomBytes(32).toString('base64url');
const DIGEST = `sha256:${createHash('sha256').update(TOKEN).digest('hex')}`;

/** This machine's first non-loopback IPv4 address: the "remote" peer. */
function remoteAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const REMOTE = remoteAddress();

interface Answer { status: number; body: string; headers: http.IncomingHttpHeaders }

/** POST from `from` (a local address to bind) with exact header lines (rawHeaders keeps duplicates). */
function post(url: string, from: string, headers: Array<[string, string]> = []): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', localAddress: from, headers: ['host', 'status.test', ...headers.flat(), 'content-length', '0'] as unknown as http.OutgoingHttpHeaders, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

let up: TestUpstream;
let gw: TestGateway;
let open: TestGateway;

const config = (node: Record<string, unknown>) => ({
  node,
  upstreams: { a: { targets: [{ url: up.url }] } },
  routes: { cached: { match: { paths: ['/c/*'] }, upstream: 'a', policies: { cache: { ttl: '60s' } } } },
}) as never;

test.before(async () => {
  if (REMOTE === undefined) return;
  up = await startUpstream();
  gw = await startGateway(config({ purgeToken: DIGEST }), { statusHost: '0.0.0.0' });
  open = await startGateway(config({}), { statusHost: '0.0.0.0' });
});
test.after.always(async () => { await gw?.stop(); await open?.stop(); await up?.close(); });

/** Caches /c/x on a gateway and returns its purge URL on the given address. */
async function warm(g: TestGateway, host: string): Promise<string> {
  const r = await fetch(`${g.url}/c/x`);
  await r.text();
  return `http://${host}:${new URL(g.statusUrl).port}/cache/purge?prefix=/c/`;
}

test.serial('a non-loopback interface exists for the remote cases', (t) => {
  t.truthy(REMOTE, 'this test needs an address other than loopback (eth0 or similar)');
});

test.serial('with purgeToken: a remote peer purges only with the right bearer token', async (t) => {
  if (REMOTE === undefined) return t.fail('no non-loopback address');
  const url = await warm(gw, REMOTE);
  const none = await post(url, REMOTE);
  t.is(none.status, 401);
  t.is(none.headers['www-authenticate'], 'Bearer realm="gatehouse-status"');
  for (const bad of [[['authorization', `Bearer ${TOKEN}x`]], [['authorization', `Basic ${TOKEN}`]], [['authorization', 'Bearer']], [['authorization', `Bearer ${TOKEN.toUpperCase()}`]],
    [['authorization', `Bearer ${TOKEN}`], ['authorization', 'Bearer other']], [['authorization', `Bearer ${DIGEST}`]]] as Array<Array<[string, string]>>) {
    const r = await post(url, REMOTE, bad);
    t.is(r.status, 401, JSON.stringify(bad));
    t.regex(String(r.headers['www-authenticate']), /error="invalid_token"/);
  }
  const browser = await post(url, REMOTE, [['authorization', `Bearer ${TOKEN}`], ['origin', 'http://evil.example']]);
  t.is(browser.status, 403, 'a browser is refused even with the token');
  const ok = await post(url, REMOTE, [['authorization', `bearer ${TOKEN}`]]);
  t.is(ok.status, 200, ok.body);
  t.deepEqual(JSON.parse(ok.body), { purged: 1 }, 'the refused attempts purged nothing');
});

test.serial('with purgeToken: loopback still purges without a token, but a wrong token is refused', async (t) => {
  if (REMOTE === undefined) return t.fail('no non-loopback address');
  const url = await warm(gw, '127.0.0.1');
  const wrong = await post(url, '127.0.0.1', [['authorization', 'Bearer nope']]);
  t.is(wrong.status, 401);
  const ok = await post(url, '127.0.0.1');
  t.is(ok.status, 200);
  t.deepEqual(JSON.parse(ok.body), { purged: 1 });
});

test.serial('without purgeToken: remote peers are refused whatever they send; loopback purges', async (t) => {
  if (REMOTE === undefined) return t.fail('no non-loopback address');
  const url = await warm(open, REMOTE);
  for (const h of [[], [['authorization', `Bearer ${TOKEN}`]]] as Array<Array<[string, string]>>) {
    const r = await post(url, REMOTE, h);
    t.is(r.status, 403, JSON.stringify(h));
  }
  const ok = await post(url.replace(REMOTE, '127.0.0.1'), '127.0.0.1');
  t.deepEqual(JSON.parse(ok.body), { purged: 1 });
});

test.serial('the multi-worker status front applies the gate before any worker is asked', async (t) => {
  if (REMOTE === undefined) return t.fail('no non-loopback address');
  // A worker's status server stand-in: counts what the front sends it.
  let asked = 0;
  const worker = http.createServer((req, res) => { asked++; req.resume(); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"purged":3}'); });
  await new Promise<void>((r) => worker.listen(0, '127.0.0.1', r));
  const front = new StatusFront(1, pino({ level: 'silent' }), new StatusWriteGate(DIGEST));
  const addr = await front.listen('0.0.0.0', 0);
  front.register(1, process.pid, (worker.address() as AddressInfo).port);
  try {
    const url = `http://${REMOTE}:${addr.port}/cache/purge?prefix=/`;
    t.is((await post(url, REMOTE)).status, 401);
    t.is((await post(url, REMOTE, [['authorization', 'Bearer wrong']])).status, 401);
    t.is((await post(`http://127.0.0.1:${addr.port}/cache/purge?prefix=/`, '127.0.0.1', [['origin', 'null']])).status, 403);
    t.is(asked, 0, 'no refused purge reached a worker');
    const ok = await post(url, REMOTE, [['authorization', `Bearer ${TOKEN}`]]);
    t.is(ok.status, 200);
    t.deepEqual(JSON.parse(ok.body), { purged: 3 });
    t.is(asked, 1);
  } finally {
    await front.close();
    await new Promise<void>((r) => worker.close(() => r()));
  }
});

test('the gate refuses a malformed digest at construction', (t) => {
  t.throws(() => new StatusWriteGate('sha256:abcd'), { message: /purgeToken/ });
});
