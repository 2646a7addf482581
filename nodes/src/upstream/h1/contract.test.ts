/**
 * The proxy path's HTTP/1.1 pool contract, run against both clients (decision 0005): the
 * own client (pool.ts) and the undici adapter (undici.ts) must behave the same wherever
 * the proxy, retries and breakers can tell: heads as strings with 1xx skipped, the wait
 * queue's bounds and codes, timeouts and their codes, backpressure, aborts, TLS (extra CA,
 * certificate name, verification). Real servers on 127.0.0.1, no mocks; what only the
 * own client does (tails, held chunks, stale keep-alive resend) is covered by pool.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { H1Pool, type H1Control, type H1PoolOptions, type H1Request } from './pool.ts';
import { UndiciH1Pool } from './undici.ts';
import { selfSignedLocalhost } from '../../../../test/protocols/certs.ts';

type Pool = H1Pool | UndiciH1Pool;
type Err = Error & { code?: string };
const CLIENTS = { own: H1Pool, undici: UndiciH1Pool } as const;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Result { status: number; headers: string[]; body: Buffer; heads: number; datas: number; ends: number; error: Err | undefined; ms: number; control: H1Control | undefined }

interface Hooks {
  /** Called with the exchange's control right after onConnect. */
  onConnect?: (control: H1Control) => void;
  /** Return false to pause; default true. */
  onData?: (chunk: Buffer, total: number, control: H1Control) => boolean;
}

/** Dispatch one request; resolves on onComplete or onError with what the handler saw. */
function send(pool: Pool, req: Partial<H1Request> = {}, hooks: Hooks = {}): Promise<Result> {
  const start = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const r: Result = { status: 0, headers: [], body: Buffer.alloc(0), heads: 0, datas: 0, ends: 0, error: undefined, ms: 0, control: undefined };
    const settle = () => { r.ends++; if (r.ends > 1) return; r.body = Buffer.concat(chunks); r.ms = performance.now() - start; resolve(r); };
    pool.dispatch({ method: 'GET', path: '/', headers: [], body: null, ...req }, {
      onConnect(c) { r.control = c; hooks.onConnect?.(c); },
      onHeaders(status, headers) { r.heads++; r.status = status; r.headers = headers; return true; },
      onData(chunk) { r.datas++; chunks.push(chunk); total += chunk.length; return hooks.onData ? hooks.onData(chunk, total, r.control!) : true; },
      onComplete(tail) { if (tail !== undefined) chunks.push(tail); settle(); },
      onError(err) { r.error = err; settle(); },
    });
  });
}

const defaults: H1PoolOptions = { connections: 4, connectTimeout: 2000, headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 4000 };

function makePool(t: ExecutionContext, kind: keyof typeof CLIENTS, origin: string, opts: Partial<H1PoolOptions> = {}): Pool {
  const pool = new CLIENTS[kind](origin, { ...defaults, ...opts });
  t.teardown(() => pool.destroy());
  return pool;
}

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

async function listen(t: ExecutionContext, s: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  s.on('connection', (c: net.Socket) => { sockets.add(c); c.once('close', () => sockets.delete(c)); });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(async () => { for (const c of sockets) c.destroy(); await new Promise<void>((r) => s.close(() => r())); });
  return (s.address() as net.AddressInfo).port;
}

async function httpServer(t: ExecutionContext, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => { seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts).toString() }); handler(req, res); });
  });
  return { port: await listen(t, s), seen };
}

// A throwaway self-signed certificate for localhost / 127.0.0.1.
const { key, cert } = selfSignedLocalhost();

for (const kind of ['own', 'undici'] as const) {
  test(`${kind}: round trip: the request as written (Host from the target, bodies), the head as strings, 1xx skipped`, async (t) => {
    const srv = await httpServer(t, (req, res) => {
      if (req.url === '/hints') res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      res.setHeader('X-Mixed-Case', 'v1');
      res.end(`${req.method} ${req.url}`);
    });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`);
    const a = await send(pool, { path: '/a?x=1', headers: ['x-one', '1'] });
    t.is(a.status, 200);
    t.is(a.body.toString(), 'GET /a?x=1');
    t.true(a.headers.every((h) => typeof h === 'string'));
    t.is(a.headers[a.headers.indexOf('X-Mixed-Case') + 1], 'v1'); // the name as the server sent it
    t.is(srv.seen[0]!.headers.host, `127.0.0.1:${srv.port}`);
    t.is(srv.seen[0]!.headers['x-one'], '1');

    const hints = await send(pool, { path: '/hints' });
    t.deepEqual([hints.heads, hints.status, hints.body.toString()], [1, 200, 'GET /hints']);

    await send(pool, { method: 'POST', path: '/buf', headers: ['host', 'kept.example'], body: Buffer.from('buffered') });
    await send(pool, { method: 'POST', path: '/stream', body: Readable.from([Buffer.from('str'), Buffer.from('eamed')]) });
    await send(pool, { method: 'POST', path: '/empty' });
    const [buf, stream, empty] = srv.seen.slice(2);
    t.deepEqual([buf!.headers.host, buf!.headers['content-length'], buf!.body], ['kept.example', '8', 'buffered']);
    t.deepEqual([stream!.headers['transfer-encoding'], stream!.body], ['chunked', 'streamed']);
    t.is(empty!.headers['content-length'], '0');
  });

  test(`${kind}: wait queue: one more than maxPending fails at once (GH_QUEUE_FULL), a wait past maxWait fails (GH_QUEUE_TIMEOUT)`, async (t) => {
    const srv = await httpServer(t, (_req, res) => { setTimeout(() => res.end('slow'), 3000); });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`, { connections: 1, maxPending: 1, maxWait: 300 });
    const first = send(pool, { path: '/first' });
    const queued = send(pool, { path: '/queued' });
    t.is(pool.pending, 1);
    const full = await send(pool, { path: '/full' });
    t.is(full.error?.code, 'GH_QUEUE_FULL');
    t.true(full.ms < 100, `refused after ${full.ms} ms`); // in dispatch itself
    const q = await queued;
    t.is(q.error?.code, 'GH_QUEUE_TIMEOUT');
    t.true(q.ms >= 300 && q.ms < 2900, `waited ${q.ms} ms`); // ended by maxWait, not by the slot freeing
    const f = await first;
    t.is(f.body.toString(), 'slow');
    t.deepEqual([pool.queueFull, pool.queueTimeouts, pool.pending], [1, 1, 0]);
    t.deepEqual(srv.seen.map((s) => s.url), ['/first']);
    // The slot is free again: the next request goes straight out.
    t.is((await send(pool, { path: '/after' })).body.toString(), 'slow');
  });

  test(`${kind}: a queued request aborted before it is sent: onError once with that error, nothing sent; the queue moves on`, async (t) => {
    const srv = await httpServer(t, (_req, res) => { setTimeout(() => res.end('ok'), 100); });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`, { connections: 1 });
    const first = send(pool, { path: '/first' });
    let control: H1Control | undefined;
    const aborted = send(pool, { path: '/aborted' }, { onConnect: (c) => { control = c; } });
    const third = send(pool, { path: '/third' });
    const mine = new Error('client closed');
    control!.abort(mine);
    control!.abort(new Error('again'));
    const [a, b, c] = await Promise.all([first, aborted, third]);
    t.is(b.error, mine);
    t.deepEqual([b.heads, b.ends], [0, 1]);
    t.deepEqual([a.body.toString(), c.body.toString()], ['ok', 'ok']);
    t.deepEqual(srv.seen.map((s) => s.url), ['/first', '/third']);
  });

  test(`${kind}: abort while waiting for the head: that error, once; without one UND_ERR_ABORTED`, async (t) => {
    const srv = await httpServer(t, () => undefined);
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`);
    const mine = new Error('stop');
    const a = await send(pool, {}, { onConnect: (c) => { setTimeout(() => c.abort(mine), 100); } });
    t.is(a.error, mine);
    const b = await send(pool, {}, { onConnect: (c) => { setTimeout(() => c.abort(), 100); } });
    t.is(b.error?.code, 'UND_ERR_ABORTED');
    t.deepEqual([a.ends, b.ends, a.heads, b.heads], [1, 1, 0, 0]);
  });

  test(`${kind}: timeouts: response head (pool and per request), body idle; their codes`, async (t) => {
    const srv = await httpServer(t, (req, res) => {
      if (req.url === '/stall') { res.writeHead(200, { 'content-length': '10' }); res.write('12345'); }
      // '/hang': never answers
    });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`, { headersTimeout: 300 });
    // The body's pool waits long for the head, so only the body's idle time can end it.
    const bodyPool = makePool(t, kind, `http://127.0.0.1:${srv.port}`, { bodyTimeout: 300 });
    const [head, own, body] = await Promise.all([
      send(pool, { path: '/hang' }),
      send(pool, { path: '/hang', headersTimeout: 150 }),
      send(bodyPool, { path: '/stall' }),
    ]);
    t.is(head.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    t.true(head.ms >= 300 && head.ms < 5000, `${head.ms} ms`); // generous: the box may be busy
    t.is(own.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
    t.true(own.ms >= 150 && own.ms < head.ms, `${own.ms} ms`);
    t.is(body.error?.code, 'UND_ERR_BODY_TIMEOUT');
    t.deepEqual([body.status, body.body.toString()], [200, '12345']);
  });

  test(`${kind}: connect: refused is ECONNREFUSED; a TLS handshake that never finishes is UND_ERR_CONNECT_TIMEOUT`, async (t) => {
    const closed = net.createServer();
    const port = await listen(t, closed);
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await send(makePool(t, kind, `http://127.0.0.1:${port}`));
    t.is(refused.error?.code, 'ECONNREFUSED');
    const silent = await listen(t, net.createServer(() => undefined)); // accepts, never speaks TLS
    const r = await send(makePool(t, kind, `https://127.0.0.1:${silent}`, { connectTimeout: 300 }));
    t.is(r.error?.code, 'UND_ERR_CONNECT_TIMEOUT');
    t.true(r.ms >= 300 && r.ms < 5000, `${r.ms} ms`);
  });

  test(`${kind}: a header value with CR/LF or a bad name is UND_ERR_INVALID_ARG, nothing is sent, the pool goes on`, async (t) => {
    const srv = await httpServer(t, (_req, res) => { res.end('ok'); });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`);
    const crlf = await send(pool, { headers: ['x-claim', 'a\r\nx-admin: 1'] });
    const name = await send(pool, { headers: ['bad name', '1'] });
    t.is(crlf.error?.code, 'UND_ERR_INVALID_ARG');
    t.is(name.error?.code, 'UND_ERR_INVALID_ARG');
    t.is((await send(pool)).body.toString(), 'ok');
    t.is(srv.seen.length, 1);
  });

  test(`${kind}: backpressure: after onData returns false nothing arrives until resume(); then the rest, whole`, async (t) => {
    const size = 4 * 1024 * 1024;
    const srv = await httpServer(t, (_req, res) => {
      res.setHeader('content-length', size);
      let sent = 0;
      const pump = () => {
        while (sent < size) { const b = Buffer.alloc(16384, (sent >> 14) & 0xff); sent += b.length; if (!res.write(b)) { res.once('drain', pump); return; } }
        res.end();
      };
      pump();
    });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`);
    let pausedAt = -1;
    let whilePaused = 0;
    let paused = false;
    const r = await send(pool, {}, {
      onData: (_c, total, control) => {
        if (paused) whilePaused++;
        if (pausedAt >= 0 || total < 1024 * 1024) return true;
        pausedAt = total;
        paused = true;
        setTimeout(() => { paused = false; control.resume(); }, 200);
        return false;
      },
    });
    t.is(r.error, undefined);
    t.true(pausedAt > 0 && pausedAt < size);
    t.is(whilePaused, 0, 'onData while paused');
    t.is(r.body.length, size);
    t.true(r.body.every((v, i) => v === ((i >> 14) & 0xff)));
  });

  test(`${kind}: resume() of a finished exchange does not wake the next one on its connection`, async (t) => {
    const srv = await httpServer(t, (req, res) => {
      if (req.url === '/small') { res.end('done'); return; }
      res.setHeader('content-length', 1024 * 1024);
      res.write(Buffer.alloc(64 * 1024, 1));
      setTimeout(() => res.end(Buffer.alloc(1024 * 1024 - 64 * 1024, 2)), 50);
    });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`, { connections: 1 });
    const first = await send(pool, { path: '/small' });
    t.is(first.body.toString(), 'done');
    let calls = 0;
    let resume: (() => void) | undefined;
    const second = send(pool, { path: '/big' }, { onData: (_c, _total, control) => { calls++; resume = () => control.resume(); return calls > 1; } });
    while (calls === 0) await sleep(10);
    first.control!.resume(); // late: must be a no-op
    await sleep(200);
    t.is(calls, 1, 'a stale resume woke the paused exchange');
    resume!();
    const r = await second;
    t.is(r.body.length, 1024 * 1024);
  });

  test(`${kind}: https: extra CA trusted, certificate name from the target or servername (never from a Host header), unverifiable certificate refused`, async (t) => {
    const snis: Array<string | false | null> = [];
    const s = https.createServer({ key, cert }, (req, res) => { res.end(`host=${req.headers.host}`); });
    s.on('secureConnection', (sock: TLSSocket) => { snis.push(sock.servername); });
    const port = await listen(t, s);
    /** The names sent on connections opened since the last call (undici may open a second connection where the own client reuses one). */
    let seenUpTo = 0;
    const newSnis = () => [...new Set(snis.slice(seenUpTo, seenUpTo = snis.length))];
    const byName = makePool(t, kind, `https://localhost:${port}`, { ca: cert });
    t.is((await send(byName)).body.toString(), `host=localhost:${port}`);
    // A preserved client Host does not become the certificate name.
    t.is((await send(byName, { headers: ['host', 'client.example'] })).body.toString(), 'host=client.example');
    t.deepEqual(newSnis(), ['localhost']);
    const byIp = makePool(t, kind, `https://127.0.0.1:${port}`, { ca: cert });
    t.is((await send(byIp, { headers: ['host', 'client.example'] })).body.toString(), 'host=client.example');
    t.deepEqual(newSnis(), [false]); // no SNI for an IP address
    const named = makePool(t, kind, `https://127.0.0.1:${port}`, { ca: cert, servername: 'localhost' });
    t.is((await send(named)).status, 200);
    t.deepEqual(newSnis(), ['localhost']);
    const wrongName = await send(makePool(t, kind, `https://127.0.0.1:${port}`, { ca: cert, servername: 'other.example' }));
    t.is(wrongName.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const untrusted = await send(makePool(t, kind, `https://localhost:${port}`));
    t.is(untrusted.error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  test(`${kind}: close() waits for the request in flight; dispatch after it is UND_ERR_CLOSED`, async (t) => {
    const srv = await httpServer(t, (_req, res) => { setTimeout(() => res.end('late'), 150); });
    const pool = makePool(t, kind, `http://127.0.0.1:${srv.port}`);
    const inflight = send(pool);
    await sleep(30);
    let closed = false;
    const c = pool.close().then(() => { closed = true; });
    const after = await send(pool);
    t.is(after.error?.code, 'UND_ERR_CLOSED');
    t.false(closed);
    t.is((await inflight).body.toString(), 'late');
    await c;
    t.true(closed);
  });
}
