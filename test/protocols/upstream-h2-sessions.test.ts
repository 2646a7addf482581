/**
 * Several HTTP/2 sessions per h2c:// target (upstreams.<name>.http2): a real node:http2
 * upstream counts the sessions the gateway opens and the streams each carries.
 */
import test from 'ava';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { validateConfig } from '../../nodes/src/validation/validate.ts';

interface Session { s: http2.ServerHttp2Session; active: number; maxActive: number; paths: string[]; closed: boolean }
interface Upstream { port: number; sessions: Session[]; hold: boolean; held: Array<() => void>; close(): Promise<void> }

/** Answers 200 with the path; while `hold` is set the answers wait in `held`. */
async function upstream(): Promise<Upstream> {
  const up: Upstream = { port: 0, sessions: [], hold: true, held: [], close: async () => undefined };
  const server = http2.createServer();
  server.on('session', (s) => {
    const one: Session = { s, active: 0, maxActive: 0, paths: [], closed: false };
    up.sessions.push(one);
    s.on('close', () => { one.closed = true; });
    s.on('error', () => undefined);
    s.on('stream', (stream, headers) => {
      one.active++;
      one.maxActive = Math.max(one.maxActive, one.active);
      one.paths.push(String(headers[':path']));
      stream.on('close', () => { one.active--; });
      stream.on('error', () => { /* refused or cut by the test's GOAWAY */ });
      stream.resume();
      stream.on('end', () => {
        const answer = (): void => {
          if (stream.destroyed || stream.closed) return;
          stream.respond({ ':status': 200, 'content-type': 'text/plain' });
          stream.end(String(headers[':path']));
        };
        if (up.hold) up.held.push(answer); else answer();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.port = (server.address() as AddressInfo).port;
  up.close = () => new Promise((r) => { for (const one of up.sessions) one.s.destroy(); server.close(() => r()); });
  return up;
}

function release(up: Upstream): void {
  up.hold = false;
  while (up.held.length) up.held.shift()!();
}

async function gateway(up: Upstream, extra: Record<string, unknown>): Promise<TestGateway> {
  return startGateway({
    upstreams: { a: { targets: [{ url: `h2c://127.0.0.1:${up.port}` }], timeouts: { response: '20s' }, ...extra } },
    routes: { a: { match: { paths: ['/a/*'] }, upstream: 'a' } },
  } as never);
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

async function metric(gw: TestGateway, name: string): Promise<number> {
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(await (await fetch(`${gw.statusUrl}/metrics`)).text());
  return m ? Number(m[1]) : NaN;
}

const open = (up: Upstream): Session[] => up.sessions.filter((x) => !x.closed);

test('under concurrent load more sessions open, up to http2.sessions, each within the stream cap; idle extras close', async (t) => {
  const up = await upstream();
  const gw = await gateway(up, { connections: 4, http2: { sessions: 3, streamsPerSession: 2, idleTimeout: '300ms' } });
  try {
    const calls = Array.from({ length: 20 }, (_, i) => get(`${gw.url}/a/${i}`));
    for (const c of calls) c.catch(() => undefined); // a failed assertion stops the gateway under them
    // 3 sessions x 4 streams are held; the other 8 wait in the gateway's queue.
    await waitFor(() => up.held.length === 12, { timeout: 20_000, message: '12 streams held' });
    await new Promise((r) => setTimeout(r, 300));
    t.is(up.held.length, 12, 'no stream past 3 sessions x 4');
    t.is(up.sessions.length, 3, 'three sessions, not more');
    t.deepEqual(up.sessions.map((x) => x.maxActive), [4, 4, 4], 'each session at its stream cap, never past it');
    t.is(await metric(gw, 'gatehouse_upstream_h2_sessions'), 3);
    release(up);
    const rs = await Promise.all(calls);
    t.deepEqual(rs.map((r) => r.status), Array.from({ length: 20 }, () => 200));
    t.deepEqual(rs.map((r) => r.body), Array.from({ length: 20 }, (_, i) => `/a/${i}`));
    t.is(up.sessions.length, 3, 'the queued requests used the open sessions');
    // Idle for 300 ms: the extra sessions close, one stays and serves the next request.
    await waitFor(() => open(up).length === 1, { timeout: 10_000, message: 'extra sessions closed when idle' });
    t.is((await get(`${gw.url}/a/after`)).status, 200);
    t.is(up.sessions.length, 3, 'the session that stayed served it');
    t.is(await metric(gw, 'gatehouse_upstream_h2_sessions'), 1);
  } finally { await gw.stop(); await up.close(); }
});

test('by default another session opens only when the open ones are at their stream cap', async (t) => {
  const up = await upstream();
  const gw = await gateway(up, { connections: 2 });
  try {
    const first = [get(`${gw.url}/a/0`), get(`${gw.url}/a/1`)];
    await waitFor(() => up.held.length === 2, { timeout: 20_000, message: 'two held' });
    await new Promise((r) => setTimeout(r, 300));
    t.is(up.sessions.length, 1, 'below the cap: one session');
    const third = get(`${gw.url}/a/2`);
    await waitFor(() => up.held.length === 3, { timeout: 20_000, message: 'a third held' });
    t.is(up.sessions.length, 2, 'the first full: a second session');
    t.deepEqual(up.sessions.map((x) => x.active), [2, 1]);
    release(up);
    t.true((await Promise.all([...first, third])).every((r) => r.status === 200));
  } finally { await gw.stop(); await up.close(); }
});

test('streams go to the least-loaded session', async (t) => {
  const up = await upstream();
  const gw = await gateway(up, { http2: { sessions: 2, streamsPerSession: 1 } });
  try {
    const first = [get(`${gw.url}/a/0`), get(`${gw.url}/a/1`)];
    // Two streams on the first session opened the second one.
    await waitFor(() => up.held.length === 2 && up.sessions.length === 2, { timeout: 20_000, message: 'two held, a second session' });
    await new Promise((r) => setTimeout(r, 200)); // its SETTINGS reach the gateway
    const more = Array.from({ length: 4 }, (_, i) => get(`${gw.url}/a/${i + 2}`));
    await waitFor(() => up.held.length === 6, { timeout: 20_000, message: '6 held' });
    t.deepEqual(up.sessions.map((x) => x.active), [3, 3], 'the new session took streams until both carried as many');
    release(up);
    t.true((await Promise.all([...first, ...more])).every((r) => r.status === 200));
  } finally { await gw.stop(); await up.close(); }
});

test('GOAWAY on one of several sessions: the streams it did not process go out again on the others, none is lost', async (t) => {
  const up = await upstream();
  const gw = await gateway(up, { http2: { sessions: 2, streamsPerSession: 1 } });
  try {
    const first = [get(`${gw.url}/a/0`), get(`${gw.url}/a/1`)];
    await waitFor(() => up.held.length === 2 && up.sessions.length === 2, { timeout: 20_000, message: 'two held, a second session' });
    await new Promise((r) => setTimeout(r, 200));
    const more = Array.from({ length: 4 }, (_, i) => get(`${gw.url}/a/${i + 2}`));
    await waitFor(() => up.held.length === 6, { timeout: 20_000, message: '6 held' });
    const [s1, s2] = up.sessions as [Session, Session];
    t.true(s2.paths.length > 0, 'both sessions carry streams');
    // The server processed only the first stream of session 1 (id 1): its other streams were not.
    const refused = s1.paths.slice(1);
    s1.s.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await waitFor(() => refused.every((p) => up.sessions.some((x) => x !== s1 && x.paths.includes(p))), { timeout: 20_000, message: 'the refused streams sent again elsewhere' });
    release(up);
    const rs = await Promise.all([...first, ...more]);
    t.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    t.deepEqual(rs.map((r) => r.body), ['/a/0', '/a/1', '/a/2', '/a/3', '/a/4', '/a/5']);
    // Later requests go to the sessions that remain.
    t.is((await get(`${gw.url}/a/after`)).status, 200);
    t.false(s1.paths.includes('/a/after'));
  } finally { await gw.stop(); await up.close(); }
});

test('bad http2 settings are config errors at their paths; good ones pass', (t) => {
  const doc = (http2: unknown) => ({ upstreams: { a: { targets: [{ url: 'h2c://127.0.0.1:1' }], http2 } } });
  t.deepEqual(validateConfig(doc({ sessions: 2, streamsPerSession: 16, idleTimeout: '10s' })), []);
  const errs = validateConfig(doc({ sessions: 0, streamsPerSession: 'many', idleTimeout: 'soon', spare: 1 }));
  t.deepEqual(errs.map((e) => e.path).sort(), ['upstreams.a.http2', 'upstreams.a.http2.idleTimeout', 'upstreams.a.http2.sessions', 'upstreams.a.http2.streamsPerSession']);
  t.deepEqual(validateConfig(doc({ sessions: 65 })).map((e) => e.path), ['upstreams.a.http2.sessions']);
});
