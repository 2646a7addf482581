/**
 * Adversarial suite: slow readers and pool exhaustion (docs/security.md "Slow readers").
 * Clients that ask for large responses and never read must not pin the target's upstream
 * connections: the write deadline (node.limits.sendTimeout) cuts them, responses that fit
 * the proxy buffer free their upstream connection however slow the client, and a request
 * that cannot get a connection gets 503 GW_UPSTREAM_OVERLOADED when the wait queue is full
 * or its wait passes queue.maxWait. Real sockets that never read; a real upstream.
 */
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { http as get } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

interface Origin { url: string; seen: Map<string, number>; finished: Map<string, number>; hanging: http.ServerResponse[]; close(): Promise<void> }

/** /big: 64 MiB streamed with backpressure; /medium: 6 MiB; /small: "ok"; /hang: never answers until close. */
async function startOrigin(): Promise<Origin> {
  const seen = new Map<string, number>();
  const finished = new Map<string, number>();
  const hanging: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    const p = req.url!;
    seen.set(p, (seen.get(p) ?? 0) + 1);
    res.on('finish', () => finished.set(p, (finished.get(p) ?? 0) + 1));
    if (p === '/hang') { hanging.push(res); return; }
    if (p === '/small') { res.end('ok'); return; }
    const total = p === '/big' ? 64 << 20 : 6 << 20;
    res.writeHead(200, { 'content-length': String(total) });
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += CHUNK.length;
        if (sent >= total) { res.end(CHUNK); return; }
        if (!res.write(CHUNK)) { res.once('drain', pump); return; }
      }
    };
    pump();
  });
  srv.keepAliveTimeout = 30_000;
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, seen, finished, hanging,
    close: async () => {
      for (const r of hanging) r.destroy();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** Open `n` connections that each send one GET and never read a byte. */
async function nonReaders(port: number, n: number, path: string): Promise<net.Socket[]> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.pause();
    s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
    socks.push(s);
  }
  await Promise.all(socks.map((s) => (s.connecting ? once(s, 'connect') : undefined)));
  return socks;
}

async function metric(gw: TestGateway, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
  const re = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : '(\\{[^}]*\\})?'} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[m.length - 1]) : NaN;
}

function config(originUrl: string, node: GatewayConfig['node'], upstream: Record<string, unknown>): GatewayConfig {
  return {
    node,
    upstreams: { o: { targets: [{ url: originUrl }], ...upstream } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'o' } },
  } as GatewayConfig;
}

test.serial('a flood of 200 non-reading clients: other requests to the target are answered on time, RSS stays bounded', async (t) => {
  const origin = await startOrigin();
  const gw = await startGateway(config(origin.url, { limits: { sendTimeout: '1s', proxyBuffer: '64kb' } }, {
    connections: 4, timeouts: { response: '5s' }, queue: { maxPending: 1000, maxWait: '2s' },
  }));
  const socks: net.Socket[] = [];
  try {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const tf = performance.now();
    socks.push(...await nonReaders(gw.port, 200, '/big'));
    t.log('connected', Math.round(performance.now() - tf));
    // Every pooled connection is taken by a /big whose client reads nothing.
    await waitFor(() => (origin.seen.get('/big') ?? 0) >= 4, { timeout: 10_000 });
    // Other requests to the same target: each answered (200, or 503 while the flood's queue
    // is ahead of it) within maxWait plus slack, never left hanging.
    const results: Array<{ status: number; ms: number; code?: string }> = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      const r = await get(`${gw.url}/small`);
      results.push({ status: r.status, ms: performance.now() - t0, ...(r.status === 503 ? { code: r.json().code } : {}) });
      await new Promise((res) => setTimeout(res, 250));
    }
    t.log(results.map((r) => `${r.status}:${Math.round(r.ms)}ms`).join(' '));
    for (const r of results) {
      t.true(r.status === 200 || (r.status === 503 && r.code === 'GW_UPSTREAM_OVERLOADED'), `status ${r.status}`);
      // maxWait (2 s) plus generous slack for a loaded machine; before the fix these never came back.
      t.true(r.ms < 2000 + 4000, `answered in ${Math.round(r.ms)} ms`);
    }
    // Once the queued flood has had its 503s, stalled connections are cut by sendTimeout and
    // the target serves again.
    const late = await waitFor(async () => { const r = await get(`${gw.url}/small`); return r.status === 200 ? r : undefined; }, { timeout: 10_000 });
    t.is(late.body, 'ok');
    t.true(await metric(gw, 'gatehouse_client_send_timeouts') >= 1, 'stalled clients were cut by sendTimeout');
    t.true(await metric(gw, 'gatehouse_upstream_queue_rejected', 'reason="timeout"') >= 1, 'queued requests timed out of the queue');
    global.gc?.();
    const grew = (process.memoryUsage().rss - rss0) / 1048576;
    t.log(`RSS grew ${grew.toFixed(1)} MiB`);
    t.true(grew < 150, `RSS grew ${grew.toFixed(1)} MiB`);
  } finally {
    for (const s of socks) s.destroy();
    await gw.stop();
    await origin.close();
  }
});

test.serial('HTTP/2: a stream that reads nothing is reset (CANCEL) at sendTimeout; the connection and its other streams go on', async (t) => {
  const origin = await startOrigin();
  const gw = await startGateway(config(origin.url, { http2: { cleartext: true }, limits: { sendTimeout: '1s', proxyBuffer: '64kb' } }, {
    connections: 4, timeouts: { response: '20s' },
  }));
  const session = http2.connect(`http://127.0.0.1:${gw.port}`);
  session.on('error', () => undefined);
  try {
    // Flow control does the not-reading: a paused stream stops granting window.
    const stalled = session.request({ ':path': '/big' });
    stalled.pause();
    const closed = new Promise<number>((resolve) => stalled.once('close', () => resolve(stalled.rstCode ?? -1)));
    stalled.on('error', () => undefined);
    await waitFor(() => (origin.seen.get('/big') ?? 0) >= 1, { timeout: 10_000 });
    t.is(await closed, http2.constants.NGHTTP2_CANCEL, 'the stalled stream was reset with CANCEL');
    t.false(session.destroyed, 'the connection lives');
    const other = session.request({ ':path': '/small' });
    let body = '';
    other.setEncoding('utf8');
    other.on('data', (d: string) => { body += d; });
    await once(other, 'end');
    t.is(body, 'ok');
    t.true(await metric(gw, 'gatehouse_client_send_timeouts') >= 1);
  } finally {
    session.destroy();
    await gw.stop();
    await origin.close();
  }
});

test.serial('proxy buffering: a response that fits frees its upstream connection while the client reads nothing', async (t) => {
  const origin = await startOrigin();
  // One connection, a long send deadline: only buffering can free it for the next request.
  const gw = await startGateway(config(origin.url, { limits: { sendTimeout: '30s', proxyBuffer: '8mb' } }, {
    connections: 1, timeouts: { response: '5s' }, queue: { maxWait: '5s' },
  }));
  const socks: net.Socket[] = [];
  try {
    socks.push(...await nonReaders(gw.port, 3, '/medium'));
    await waitFor(() => (origin.finished.get('/medium') ?? 0) === 3, { timeout: 15_000 });
    const t0 = performance.now();
    const r = await get(`${gw.url}/small`);
    t.is(r.status, 200);
    t.true(performance.now() - t0 < 3000);
    t.true(await metric(gw, 'gatehouse_proxy_buffered_responses') >= 1);
  } finally {
    for (const s of socks) s.destroy();
    await gw.stop();
    await origin.close();
  }
});

test.serial('the wait queue is bounded: full → 503 at once, too long a wait → 503 at maxWait; in-flight requests unaffected', async (t) => {
  const origin = await startOrigin();
  const gw = await startGateway(config(origin.url, {}, {
    connections: 2, timeouts: { response: '20s' }, queue: { maxPending: 2, maxWait: '600ms' },
  }));
  try {
    const started = performance.now();
    const timed = (p: Promise<{ status: number; json: () => any }>) => p.then((r) => ({ r, ms: performance.now() - started }));
    const inflight = [timed(get(`${gw.url}/hang`)), timed(get(`${gw.url}/hang`))];
    await waitFor(() => origin.hanging.length === 2, { timeout: 5000 });
    const queued = [timed(get(`${gw.url}/hang`)), timed(get(`${gw.url}/hang`))];
    await waitFor(async () => await metric(gw, 'gatehouse_upstream_queue_pending') === 2, { timeout: 5000 });
    const t1 = performance.now();
    const full = await get(`${gw.url}/hang`);
    t.is(full.status, 503);
    t.is(full.json().code, 'GW_UPSTREAM_OVERLOADED');
    // Refused at once, not after maxWait: counted as reason="full" below (a clock bound here
    // would only measure how busy the machine is).
    t.true(performance.now() - t1 < 5000, 'a full queue answers without waiting for a connection');
    for (const q of await Promise.all(queued)) {
      t.is(q.r.status, 503);
      t.is(q.r.json().code, 'GW_UPSTREAM_OVERLOADED');
      t.true(q.ms >= 550 && q.ms < 8000, `queued request answered after ${Math.round(q.ms)} ms`);
    }
    t.is(origin.seen.get('/hang'), 2, 'the refused requests never reached the upstream');
    for (const r of origin.hanging) r.end('late');
    for (const f of await Promise.all(inflight)) t.is(f.r.status, 200);
    t.is(await metric(gw, 'gatehouse_upstream_queue_rejected', 'reason="full"'), 1);
    t.is(await metric(gw, 'gatehouse_upstream_queue_rejected', 'reason="timeout"'), 2);
  } finally {
    await gw.stop();
    await origin.close();
  }
});
