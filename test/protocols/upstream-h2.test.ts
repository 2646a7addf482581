/**
 * Upstream protocols: h2c:// and h2:// targets (one multiplexed session, stream cap, GOAWAY,
 * reconnect), https:// and h2:// with a per-upstream CA and server name (verification on),
 * and retries across HTTP/2 targets.
 */
import test from 'ava';
import http2 from 'node:http2';
import https from 'node:https';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { makePki, makeCa, makeLeaf, type Pki } from './certs.ts';
import { curl } from './run.ts';

interface H2Up { port: number; sessions: number; maxActive: number; active: number; seen: string[]; goawayFirst: boolean; close(): Promise<void>; hold: boolean; held: Array<() => void> }

async function h2Upstream(secure?: { key: Buffer; cert: Buffer }, port = 0): Promise<H2Up> {
  const up: H2Up = { port: 0, sessions: 0, maxActive: 0, active: 0, seen: [], goawayFirst: false, hold: false, held: [], close: async () => undefined };
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    up.active++;
    up.maxActive = Math.max(up.maxActive, up.active);
    up.seen.push(`${headers[':method']} ${headers[':path']} ${headers[':authority']}`);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('close', () => { up.active--; });
    stream.on('error', () => { /* refused or reset: the test looks at what the gateway does */ });
    stream.on('end', () => {
      const answer = (): void => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-proto': 'h2' });
        stream.end(JSON.stringify({ path: headers[':path'], authority: headers[':authority'], body: Buffer.concat(chunks).toString(), xff: headers['x-forwarded-for'] }));
      };
      if (up.hold) up.held.push(answer); else answer();
    });
  };
  const server = secure ? http2.createSecureServer({ ...secure }) : http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    up.sessions++;
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    if (up.goawayFirst && up.sessions === 1) {
      // Process only stream 1 of the first session: later streams must go out again.
      s.once('stream', () => { s.goaway(http2.constants.NGHTTP2_NO_ERROR, 1); });
    }
  });
  server.on('stream', onStream);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  up.port = (server.address() as AddressInfo).port;
  up.close = () => new Promise((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); });
  return up;
}

let pki: Pki;
test.before(() => {
  pki = makePki();
  makeCa(pki, 'internal');
  makeLeaf(pki, 'internal', 'svc', '/CN=users.internal', ['DNS:users.internal']);
});
test.after.always(() => { pki?.cleanup(); });

async function gatewayFor(upstreams: Record<string, unknown>): Promise<TestGateway> {
  const routes: Record<string, unknown> = {};
  for (const name of Object.keys(upstreams)) routes[name] = { match: { paths: [`/${name}`, `/${name}/*`] }, upstream: name };
  return startGateway({ node: { http2: { cleartext: true } }, upstreams, routes } as never);
}

test('h2c:// target: HTTP/1.1 and HTTP/2 clients reach it over one multiplexed session', async (t) => {
  const up = await h2Upstream();
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }], http2: { sessions: 1 } } });
  try {
    const r1 = await curl(['--http1.1', '-d', 'hello', `${gw.url}/a/x?q=1`]);
    t.is(r1.status, 200, r1.stderr);
    const body = JSON.parse(r1.body) as { path: string; body: string; authority: string; xff: string };
    t.is(body.path, '/a/x?q=1');
    t.is(body.body, 'hello');
    t.is(body.authority, `127.0.0.1:${up.port}`);
    t.is(body.xff, '127.0.0.1');
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => curl(['--http2-prior-knowledge', `${gw.url}/a/${i}`])));
    t.true(all.every((r) => r.status === 200));
    t.is(up.sessions, 1, 'one session carries every request');
  } finally { await gw.stop(); await up.close(); }
});

test('stream cap: at most `connections` streams at once on one session (http2.sessions: 1)', async (t) => {
  const up = await h2Upstream();
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }], connections: 3, http2: { sessions: 1 } } });
  try {
    up.hold = true;
    const calls = Promise.all(Array.from({ length: 8 }, (_, i) => curl([`${gw.url}/a/${i}`])));
    await waitFor(() => up.held.length === 3, { timeout: 20_000, message: '3 streams held' });
    await new Promise((r) => setTimeout(r, 200));
    t.is(up.held.length, 3, 'no fourth stream while three are open');
    up.hold = false;
    while (up.held.length) up.held.shift()!();
    // Later ones are answered as they arrive (hold is off).
    const rs = await calls;
    t.true(rs.every((r) => r.status === 200));
    t.is(up.maxActive, 3);
  } finally { await gw.stop(); await up.close(); }
});

async function metric(gw: TestGateway, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
  const re = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : '(\\{[^}]*\\})?'} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[m.length - 1]) : NaN;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

// Serial (ava runs it before the concurrent ones): other tests here pick "dead" ports with
// freePort() and bring servers up on them later, which may be the port this upstream got;
// their requests would then land on these held streams.
test.serial('the wait queue behind the stream cap is bounded: full → 503 at once, past maxWait → 503; held streams unaffected', async (t) => {
  const up = await h2Upstream();
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }], connections: 2, http2: { sessions: 1 }, timeouts: { response: '20s' }, queue: { maxPending: 2, maxWait: '2s' } } });
  const target = `target="h2c://127.0.0.1:${up.port}"`;
  try {
    up.hold = true;
    const timed = (p: Promise<{ status: number; body: string }>) => { const t0 = performance.now(); return p.then((r) => ({ r, ms: performance.now() - t0 })); };
    const inflight = [timed(get(`${gw.url}/a/held0`)), timed(get(`${gw.url}/a/held1`))];
    await waitFor(() => up.held.length === 2, { timeout: 10_000, message: '2 streams held' });
    const queued = [timed(get(`${gw.url}/a/q0`)), timed(get(`${gw.url}/a/q1`))];
    for (const p of [...inflight, ...queued]) p.catch(() => undefined); // a failed assertion below stops the gateway under them
    await waitFor(async () => await metric(gw, 'gatehouse_upstream_queue_pending', target) === 2, { timeout: 10_000, message: '2 queued' });
    const full = await get(`${gw.url}/a/full`);
    t.is(full.status, 503);
    t.is((JSON.parse(full.body) as { code: string }).code, 'GW_UPSTREAM_OVERLOADED');
    for (const q of await Promise.all(queued)) {
      t.is(q.r.status, 503);
      t.is((JSON.parse(q.r.body) as { code: string }).code, 'GW_UPSTREAM_OVERLOADED');
      t.true(q.ms >= 1900 && q.ms < 12_000, `queued request answered after ${Math.round(q.ms)} ms`);
    }
    t.is(up.seen.length, 2, 'the refused requests never reached the upstream');
    t.is(await metric(gw, 'gatehouse_upstream_queue_pending', target), 0);
    up.hold = false;
    while (up.held.length) up.held.shift()!();
    for (const f of await Promise.all(inflight)) t.is(f.r.status, 200);
    t.is(await metric(gw, 'gatehouse_upstream_queue_rejected', `${target},reason="full"`), 1);
    t.is(await metric(gw, 'gatehouse_upstream_queue_rejected', `${target},reason="timeout"`), 2);
    // The slots are free again: the next request is served.
    t.is((await get(`${gw.url}/a/after`)).status, 200);
  } finally { await gw.stop(); await up.close(); }
});

test('GOAWAY: streams the server did not process are sent again on a new session', async (t) => {
  const up = await h2Upstream();
  up.goawayFirst = true;
  up.hold = false;
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }] } });
  try {
    const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => curl([`${gw.url}/a/${i}`])));
    t.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200]);
    t.true(up.sessions >= 2, 'a second session was opened');
  } finally { await gw.stop(); await up.close(); }
});

test('a dead h2c target is a 502; it is reached again once it is up (reconnect with backoff)', async (t) => {
  const port = await freePort();
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${port}` }], timeouts: { connect: '500ms' } } });
  let up: H2Up | undefined;
  try {
    const r = await curl([`${gw.url}/a/x`]);
    t.is(r.status, 502);
    up = await h2Upstream(undefined, port);
    await waitFor(async () => (await curl([`${gw.url}/a/x`])).status === 200, { timeout: 15_000, message: 'the target reached again' });
    t.pass();
  } finally { await gw.stop(); await up?.close(); }
});

test('retries move a request from a dead h2c target to a live one', async (t) => {
  const up = await h2Upstream();
  const dead = await freePort();
  // The dead port refuses at once; the connect timeout only bounds the live target's first
  // connect, which a box busy with the rest of the suite can take past 500 ms.
  const gw = await gatewayFor({ a: { targets: [{ url: `h2c://127.0.0.1:${dead}` }, { url: `h2c://127.0.0.1:${up.port}` }], retries: { attempts: 2 }, timeouts: { connect: '3s' } } });
  try {
    // One after another: concurrent tries would also meet the retry budget, which may refuse
    // a retry on purpose (docs/upstreams.md); this test is about the move to the live target.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await curl([`${gw.url}/a/r`])).status);
    t.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
  } finally { await gw.stop(); await up.close(); }
});

test('h2:// and https:// targets: verified with the upstream CA and server name; refused without them', async (t) => {
  const secure = { key: fs.readFileSync(pki.file('svc-key.pem')), cert: fs.readFileSync(pki.file('svc.pem')) };
  const up = await h2Upstream(secure);
  const h1 = https.createServer(secure, (req, res) => { res.end(`h1 ${req.url}`); });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  const h1port = (h1.address() as AddressInfo).port;
  const tlsCfg = { ca: pki.file('internal.pem'), serverName: 'users.internal' };
  const gw = await gatewayFor({
    h2ok: { targets: [{ url: `h2://127.0.0.1:${up.port}` }], tls: tlsCfg },
    h2bad: { targets: [{ url: `h2://127.0.0.1:${up.port}` }] },
    h2name: { targets: [{ url: `h2://127.0.0.1:${up.port}` }], tls: { ca: pki.file('internal.pem'), serverName: 'other.internal' } },
    h1ok: { targets: [{ url: `https://127.0.0.1:${h1port}` }], tls: tlsCfg },
    h1bad: { targets: [{ url: `https://127.0.0.1:${h1port}` }] },
  });
  try {
    const ok = await curl([`${gw.url}/h2ok/x`]);
    t.is(ok.status, 200, ok.body);
    t.is((JSON.parse(ok.body) as { path: string }).path, '/h2ok/x');
    t.is((await curl([`${gw.url}/h2bad/x`])).status, 502, 'unknown CA refused');
    t.is((await curl([`${gw.url}/h2name/x`])).status, 502, 'wrong name refused');
    const h1ok = await curl([`${gw.url}/h1ok/y`]);
    t.is(h1ok.status, 200);
    t.is(h1ok.body, 'h1 /h1ok/y');
    t.is((await curl([`${gw.url}/h1bad/y`])).status, 502);
  } finally { await gw.stop(); await up.close(); await new Promise((r) => h1.close(r)); }
});

test('grpc-timeout is the gateway\'s own bound, against an upstream that ignores it: DEADLINE_EXCEEDED before and after the head, the upstream stream cancelled', async (t) => {
  // A plain HTTP/2 server, no gRPC library: it never looks at grpc-timeout.
  const server = http2.createServer();
  const cancelled: string[] = [];
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    stream.on('close', () => { if (stream.rstCode === http2.constants.NGHTTP2_CANCEL) cancelled.push(String(headers[':path'])); });
    stream.resume();
    if (headers[':path'] === '/g/g.S/AfterHead') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(Buffer.from([0, 0, 0, 0, 1, 0x61])); // one message, then nothing
    }
    // '/g/g.S/BeforeHead': never answers.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const gw = await gatewayFor({ g: { targets: [{ url: `h2c://127.0.0.1:${(server.address() as AddressInfo).port}` }], timeouts: { response: '30s', idle: '30s' } } });
  const s = http2.connect(gw.url);
  // A raw client: it sends grpc-timeout but keeps no timer of its own.
  const call = (path: string) => new Promise<{ status: string | undefined; messages: number; ms: number }>((resolve, reject) => {
    const t0 = Date.now();
    const st = s.request({ ':method': 'POST', ':path': `/g${path}`, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
    let status: string | undefined;
    let messages = 0;
    st.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    st.on('trailers', (h) => { status = String(h['grpc-status']); });
    st.on('data', () => { messages++; });
    st.on('close', () => { resolve({ status, messages, ms: Date.now() - t0 }); });
    st.on('error', reject);
    st.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  try {
    const before = await call('/g.S/BeforeHead');
    t.is(before.status, '4');
    t.true(before.ms >= 250 && before.ms < 8000, `${before.ms} ms`); // far below the 30 s response timeout, the only other bound
    const after = await call('/g.S/AfterHead');
    t.is(after.status, '4');
    t.is(after.messages, 1, 'the message sent before the deadline arrived');
    t.true(after.ms >= 250 && after.ms < 8000, `${after.ms} ms`);
    await waitFor(() => cancelled.length === 2, { timeout: 5000, message: 'both upstream streams cancelled' });
    t.deepEqual(cancelled.sort(), ['/g/g.S/AfterHead', '/g/g.S/BeforeHead']);
  } finally { s.close(); await gw.stop(); await new Promise((r) => server.close(r)); }
});
