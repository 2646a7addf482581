/**
 * H1Pool against real servers on 127.0.0.1: `node:http` servers for ordinary traffic and
 * raw `node:net` servers that write exact bytes for protocol misbehaviour. No mocks; every
 * server, socket and pool is closed by the test that opened it.
 */
import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { H1Pool, type H1Control, type H1PoolOptions, type H1Request } from './pool.ts';

type Err = Error & { code?: string };

interface Result {
  status: number;
  headers: string[];
  body: Buffer;
  /** onHeaders / onData / onComplete / onError calls (each of the last two must be 0 or 1). */
  heads: number;
  datas: number;
  completes: number;
  errors: number;
  error: Err | undefined;
  ms: number;
}

interface SendHooks {
  onConnect?: (abort: (err?: Error) => void) => void;
  /** Return false to pause; default true. */
  onData?: (chunk: Buffer, total: number, resume: () => void) => boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Dispatch one request; resolves (never rejects) on onComplete or onError with what the handler saw. */
function send(pool: H1Pool, req: Partial<H1Request> = {}, hooks: SendHooks = {}): Promise<Result> {
  const start = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let resume: () => void = () => undefined;
    let control: H1Control | undefined;
    const r: Result = { status: 0, headers: [], body: Buffer.alloc(0), heads: 0, datas: 0, completes: 0, errors: 0, error: undefined, ms: 0 };
    const settle = () => { r.body = Buffer.concat(chunks); r.ms = performance.now() - start; resolve(r); };
    pool.dispatch({ method: 'GET', path: '/', headers: [], body: null, ...req }, {
      onConnect(c) { control = c; hooks.onConnect?.((err) => c.abort(err)); },
      onHeaders(status, headers) { r.heads++; r.status = status; r.headers = headers; resume = () => control!.resume(); return true; },
      onData(chunk) {
        r.datas++;
        chunks.push(chunk);
        total += chunk.length;
        return hooks.onData ? hooks.onData(chunk, total, resume) : true;
      },
      onComplete(tail) {
        // The last chunk may come with the completion (same read): it is part of the body.
        if (tail !== undefined) { chunks.push(tail); total += tail.length; }
        r.completes++;
        if (r.completes + r.errors === 1) settle();
      },
      onError(err) { r.errors++; r.error = err; if (r.completes + r.errors === 1) settle(); },
    });
  });
}

const defaults: H1PoolOptions = { connections: 4, connectTimeout: 2000, headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 4000 };

function makePool(t: ExecutionContext, port: number, opts: Partial<H1PoolOptions> = {}): H1Pool {
  const pool = new H1Pool(`http://127.0.0.1:${port}`, { ...defaults, ...opts });
  t.teardown(() => pool.destroy());
  return pool;
}

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer; socket: net.Socket }

/** A node:http server; `seen` gets each request once its body has been read. */
async function httpServer(t: ExecutionContext, handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void, keepAliveTimeout?: number) {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let open = 0;
  let maxOpen = 0;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts), socket: req.socket };
      seen.push(s);
      handler(req, res, s);
    });
  });
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  server.on('connection', (sock: net.Socket) => {
    connections++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    sockets.add(sock);
    sock.once('close', () => { open--; sockets.delete(sock); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    connections: () => connections,
    maxOpen: () => maxOpen,
  };
}

interface RawConn { sock: net.Socket; requests: string[]; received: () => number }

/**
 * A net server that writes exact bytes. `onRequest` runs for every complete request head
 * (requests without bodies) with the connection's state.
 */
async function rawServer(t: ExecutionContext, onRequest: (c: RawConn, head: string) => void) {
  const conns: RawConn[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let received = 0;
    const c: RawConn = { sock, requests: [], received: () => received };
    conns.push(c);
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      received += d.length;
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, i + 4);
        buf = buf.slice(i + 4);
        c.requests.push(head);
        onRequest(c, head);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const c of conns) c.sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, conns };
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** Value of a header in a flat raw list, case-insensitive. */
const header = (h: string[], name: string) => {
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === name) return h[i + 1];
  return undefined;
};

// 1. Round trip

test('GET round trip: status, raw response headers (hop-by-hop included), body; the request as written', async (t) => {
  const srv = await rawServer(t, (c) => {
    c.sock.write('HTTP/1.1 201 Created\r\nX-Custom: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool, { path: '/a/b?c=1&d=%20', headers: ['x-one', '1', 'accept', '*/*'] });
  t.is(r.error, undefined);
  t.is(r.status, 201);
  t.deepEqual(r.headers, ['X-Custom', 'a', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=30', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
  t.is(r.body.toString(), 'hello');
  t.deepEqual([r.heads, r.completes, r.errors], [1, 1, 0]);
  t.is(srv.conns[0]!.requests[0], `GET /a/b?c=1&d=%20 HTTP/1.1\r\nx-one: 1\r\naccept: */*\r\nhost: 127.0.0.1:${srv.port}\r\n\r\n`);

  // A given host replaces the origin's (and is the only one).
  const r2 = await send(pool, { path: '/x', headers: ['host', 'api.example.test', 'x-two', '2'] });
  t.is(r2.status, 201);
  t.is(srv.conns[0]!.requests[1], 'GET /x HTTP/1.1\r\nhost: api.example.test\r\nx-two: 2\r\n\r\n');
  t.is(srv.conns.length, 1);
});

test('obs-text (bytes 0x80-0xff) in header values passes through byte for byte, both ways', async (t) => {
  const srv = await rawServer(t, (c) => {
    c.sock.write(Buffer.from('HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n', 'latin1'));
  });
  const pool = makePool(t, srv.port);
  // Node's parser hands such values over as latin1 strings; they must leave as the same bytes.
  const r = await send(pool, { headers: ['x-name', 'caf\u00e9'], checked: 2 });
  t.is(r.status, 200);
  t.deepEqual(r.headers, ['X-Name', 'caf\u00e9', 'Content-Length', '0']);
  t.true(srv.conns[0]!.requests[0]!.includes('x-name: caf\u00e9\r\n'), 'one byte 0xe9, not UTF-8');
});

test('a response read in one go completes in one call (tail); a streamed one is passed on chunk by chunk as it arrives', async (t) => {
  let later: (() => void) | undefined;
  const srv = await rawServer(t, (c, head) => {
    if (head.startsWith('GET /small')) { c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'); return; }
    // Server-sent-events style: a first event now, the rest only when the test says so.
    c.sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n');
    later = () => c.sock.write('5\r\nlast\n\r\n0\r\n\r\n');
  });
  const pool = makePool(t, srv.port);
  const small = await send(pool, { path: '/small' });
  t.is(small.body.toString(), 'hello');
  t.is(small.datas, 0, 'the whole body came with onComplete');

  let firstSeen!: () => void;
  const first = new Promise<void>((r) => { firstSeen = r; });
  const streamed = send(pool, { path: '/events' }, { onData: (chunk) => { if (chunk.toString() === 'first\n') firstSeen(); return true; } });
  await first; // delivered while the upstream is still silent: nothing is held back across reads
  later!();
  const r = await streamed;
  t.is(r.body.toString(), 'first\nlast\n');
  t.deepEqual([r.completes, r.errors], [1, 0]);
});

test('a handler that throws inside a parser callback fails its exchange; the process and the pool go on', async (t) => {
  const srv = await httpServer(t, (_req, res) => { res.end('ok'); });
  const pool = makePool(t, srv.port);
  const boom = new Error('handler bug');
  const err = await new Promise<Error>((resolve) => {
    pool.dispatch({ method: 'GET', path: '/', headers: [], body: null }, {
      onConnect() { /* no-op */ },
      onHeaders() { throw boom; },
      onData() { return true; },
      onComplete() { resolve(new Error('completed')); },
      onError(e) { resolve(e); },
    });
  });
  t.is(err, boom);
  const r = await send(pool);
  t.is(r.status, 200);
  t.is(r.body.toString(), 'ok');
});

test('a handler that throws in onData for a chunk of a streamed body fails its exchange, not the process', async (t) => {
  // The chunk is handed over after the read is parsed (the response is not complete yet).
  const srv = await httpServer(t, (req, res) => {
    if (req.url === '/ok') { res.end('ok'); return; }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first\n');
  });
  const pool = makePool(t, srv.port);
  const boom = new Error('handler bug in onData');
  const err = await new Promise<Error>((resolve) => {
    pool.dispatch({ method: 'GET', path: '/stream', headers: [], body: null }, {
      onConnect() { /* no-op */ },
      onHeaders() { return true; },
      onData() { throw boom; },
      onComplete() { resolve(new Error('completed')); },
      onError(e) { resolve(e); },
    });
  });
  t.is(err, boom);
  const r = await send(pool, { path: '/ok' });
  t.is(r.body.toString(), 'ok');
});

test('a response head with more headers than the native parser passes at once arrives whole, in order', async (t) => {
  const names = Array.from({ length: 45 }, (_, i) => `X-H${i}`);
  const srv = await rawServer(t, (c) => {
    c.sock.write(`HTTP/1.1 200 OK\r\n${names.map((n, i) => `${n}: v${i}\r\n`).join('')}Content-Length: 2\r\n\r\nok`);
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.is(r.status, 200);
  t.deepEqual(r.headers, [...names.flatMap((n, i) => [n, `v${i}`]), 'Content-Length', '2']);
  t.is(r.body.toString(), 'ok');
});

// 2. Keep-alive

test('keep-alive: sequential requests share one server-side connection', async (t) => {
  const srv = await httpServer(t, (_req, res, s) => { res.end(`r${s.url}`); });
  const pool = makePool(t, srv.port);
  for (let i = 0; i < 6; i++) {
    const r = await send(pool, { path: `/${i}` });
    t.is(r.status, 200);
    t.is(r.body.toString(), `r/${i}`);
  }
  t.is(srv.connections(), 1);
  t.is(new Set(srv.seen.map((s) => s.socket)).size, 1);
});

// 3. Connection limit

test('connections: 2 with 5 concurrent slow requests: at most 2 sockets, the rest queue, all complete', async (t) => {
  let active = 0;
  let maxActive = 0;
  const srv = await httpServer(t, (_req, res, s) => {
    active++;
    maxActive = Math.max(maxActive, active);
    setTimeout(() => { active--; res.end(`done ${s.url}`); }, 150);
  });
  const pool = makePool(t, srv.port, { connections: 2 });
  const rs = await Promise.all([0, 1, 2, 3, 4].map((i) => send(pool, { path: `/${i}` })));
  t.deepEqual(rs.map((r) => [r.status, r.body.toString(), r.errors]), [0, 1, 2, 3, 4].map((i) => [200, `done /${i}`, 0]));
  t.is(srv.maxOpen(), 2);
  t.is(srv.connections(), 2);
  t.is(maxActive, 2);
});

// 4. Request bodies

test('request bodies: Buffer gets content-length; stream without one is chunked; with one is sent as-is; POST null says 0', async (t) => {
  const srv = await httpServer(t, (_req, res) => { res.end('ok'); });
  const pool = makePool(t, srv.port);

  const r1 = await send(pool, { method: 'POST', path: '/buf', headers: ['content-type', 'text/plain'], body: Buffer.from('hello body') });
  t.is(r1.status, 200);
  let s = srv.seen.at(-1)!;
  t.is(s.headers['content-length'], '10');
  t.is(s.headers['transfer-encoding'], undefined);
  t.is(s.body.toString(), 'hello body');

  // A stream fed over time, 3 x 100 KiB + a tail, no content-length: chunked, arrives whole.
  const big = Buffer.alloc(300 * 1024 + 7);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const stream = new PassThrough();
  const p2 = send(pool, { method: 'POST', path: '/stream', headers: [], body: stream });
  for (let i = 0; i < big.length; i += 100 * 1024) {
    stream.write(big.subarray(i, Math.min(big.length, i + 100 * 1024)));
    await sleep(10);
  }
  stream.end();
  const r2 = await p2;
  t.is(r2.status, 200);
  s = srv.seen.at(-1)!;
  t.is(s.url, '/stream');
  t.is(s.headers['transfer-encoding'], 'chunked');
  t.is(s.headers['content-length'], undefined);
  t.true(s.body.equals(big));

  // A stream with its content-length: no chunked framing.
  const sized = new PassThrough();
  const p3 = send(pool, { method: 'PUT', path: '/sized', headers: ['content-length', '11'], body: sized });
  sized.write('hello ');
  await sleep(10);
  sized.end('world');
  const r3 = await p3;
  t.is(r3.status, 200);
  s = srv.seen.at(-1)!;
  t.is(s.headers['content-length'], '11');
  t.is(s.headers['transfer-encoding'], undefined);
  t.is(s.body.toString(), 'hello world');

  const r4 = await send(pool, { method: 'POST', path: '/empty', body: null });
  t.is(r4.status, 200);
  s = srv.seen.at(-1)!;
  t.is(s.headers['content-length'], '0');
  t.is(s.body.length, 0);

  // GET without a body says nothing about one.
  await send(pool, { path: '/get' });
  s = srv.seen.at(-1)!;
  t.is(s.headers['content-length'], undefined);
  t.is(s.headers['transfer-encoding'], undefined);

  t.is(srv.connections(), 1, 'every exchange left the connection reusable');
});

// 5. Response framings

test('chunked response arrives whole', async (t) => {
  const srv = await httpServer(t, (_req, res) => {
    res.write('ab');
    setTimeout(() => { res.write('cd'); setTimeout(() => res.end('ef'), 10); }, 10);
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.is(r.status, 200);
  t.is(header(r.headers, 'transfer-encoding'), 'chunked');
  t.is(r.body.toString(), 'abcdef');
  t.deepEqual([r.completes, r.errors], [1, 0]);
});

test('close-delimited response (no length, connection: close) completes at EOF; the next request opens a new connection', async (t) => {
  const srv = await rawServer(t, (c) => {
    c.sock.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1-');
    setTimeout(() => { c.sock.end('part2'); }, 20);
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.is(r.error, undefined);
  t.is(r.status, 200);
  t.is(r.body.toString(), 'part1-part2');
  t.deepEqual([r.completes, r.errors], [1, 0]);
  const r2 = await send(pool);
  t.is(r2.body.toString(), 'part1-part2');
  t.is(srv.conns.length, 2);
});

test('HEAD response with content-length and no body completes, and the connection is reused', async (t) => {
  const srv = await rawServer(t, (c, head) => {
    if (head.startsWith('HEAD ')) c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
    else c.sock.write(ok('after head'));
  });
  const pool = makePool(t, srv.port, { headersTimeout: 2000, bodyTimeout: 2000 });
  const r = await send(pool, { method: 'HEAD' });
  t.is(r.error, undefined);
  t.is(r.status, 200);
  t.is(header(r.headers, 'content-length'), '1234');
  t.is(r.body.length, 0);
  t.is(r.completes, 1);
  const r2 = await send(pool);
  t.is(r2.body.toString(), 'after head');
  t.is(srv.conns.length, 1);
});

test('204 completes without a body and the connection is reused', async (t) => {
  const srv = await httpServer(t, (req, res) => {
    if (req.url === '/nc') { res.writeHead(204, { 'x-a': 'b' }); res.end(); } else res.end('next');
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool, { path: '/nc' });
  t.is(r.status, 204);
  t.is(header(r.headers, 'x-a'), 'b');
  t.is(r.body.length, 0);
  t.deepEqual([r.completes, r.errors], [1, 0]);
  const r2 = await send(pool, { path: '/n' });
  t.is(r2.body.toString(), 'next');
  t.is(srv.connections(), 1);
});

test('1xx before the final response: only the final head reaches onHeaders', async (t) => {
  const srv = await rawServer(t, (c) => {
    c.sock.write('HTTP/1.1 100 Continue\r\n\r\n');
    setTimeout(() => {
      c.sock.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
      setTimeout(() => c.sock.write(ok('final', 'X-Final: 1\r\n')), 10);
    }, 10);
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool, { method: 'POST', body: Buffer.from('x') });
  t.is(r.error, undefined);
  t.is(r.heads, 1);
  t.is(r.status, 200);
  t.deepEqual(r.headers, ['Content-Length', '5', 'X-Final', '1']);
  t.is(r.body.toString(), 'final');
  // Still in step: the next request on the same connection gets its own answer.
  const r2 = await send(pool);
  t.is(r2.status, 200);
  t.is(r2.heads, 1);
  t.is(srv.conns.length, 1);
});

// 6. Timeouts and connect errors

test('headersTimeout: no response head in time -> UND_ERR_HEADERS_TIMEOUT', async (t) => {
  const srv = await httpServer(t, () => undefined); // never answers
  const pool = makePool(t, srv.port, { headersTimeout: 150 });
  const r = await send(pool);
  t.is(r.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
  t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);
  t.true(r.ms >= 100, `fired after ${r.ms} ms`);
  t.true(r.ms < 5000, `fired after ${r.ms} ms`);
});

test('bodyTimeout: a body that stalls after the head -> UND_ERR_BODY_TIMEOUT', async (t) => {
  const srv = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '10' });
    res.write('abc'); // and nothing more
  });
  const pool = makePool(t, srv.port, { bodyTimeout: 200 });
  const r = await send(pool);
  t.is(r.status, 200);
  t.is(r.body.toString(), 'abc');
  t.is(r.error?.code, 'UND_ERR_BODY_TIMEOUT');
  t.deepEqual([r.heads, r.completes, r.errors], [1, 0, 1]);
  t.true(r.ms >= 150, `fired after ${r.ms} ms`);
});

test('a per-request headersTimeout overrides the pool\'s, both ways', async (t) => {
  const srv = await httpServer(t, (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('late'), 500);
  });
  const lenient = makePool(t, srv.port, { headersTimeout: 20_000 });
  const r = await send(lenient, { path: '/never', headersTimeout: 150 });
  t.is(r.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
  t.true(r.ms >= 100 && r.ms < 10_000, `fired after ${r.ms} ms`);

  const strict = makePool(t, srv.port, { headersTimeout: 100 });
  const r2 = await send(strict, { path: '/slow', headersTimeout: 10_000 });
  t.is(r2.error, undefined);
  t.is(r2.body.toString(), 'late');
});

test('connect to a closed port -> ECONNREFUSED', async (t) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const pool = makePool(t, port);
  const r = await send(pool);
  t.is(r.error?.code, 'ECONNREFUSED');
  t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);
});

// 7. Broken upstreams

test('invalid response bytes -> an HPE_ parse error', async (t) => {
  const srv = await rawServer(t, (c) => { c.sock.write('HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok'); });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.true(r.error?.code?.startsWith('HPE_'), `code ${r.error?.code}`);
  t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);

  const srv2 = await rawServer(t, (c) => { c.sock.write('this is not http\r\n\r\n'); });
  const r2 = await send(makePool(t, srv2.port));
  t.true(r2.error?.code?.startsWith('HPE_'), `code ${r2.error?.code}`);
  t.deepEqual([r2.heads, r2.completes, r2.errors], [0, 0, 1]);
});

test('Content-Length together with Transfer-Encoding -> an HPE_ parse error, no head delivered', async (t) => {
  const srv = await rawServer(t, (c) => {
    c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.true(r.error?.code?.startsWith('HPE_'), `code ${r.error?.code}`);
  t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);
});

test('upstream closes mid-body -> error after the bytes that came, no onComplete', async (t) => {
  const srv = await rawServer(t, (c) => { c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'); setTimeout(() => c.sock.end(), 20); });
  const pool = makePool(t, srv.port);
  const r = await send(pool);
  t.is(r.status, 200);
  t.is(r.body.toString(), '0123456789');
  t.is(r.error?.code, 'UND_ERR_SOCKET');
  t.deepEqual([r.heads, r.completes, r.errors], [1, 0, 1]);

  // Same for a chunked body cut between chunks.
  const srv2 = await rawServer(t, (c) => { c.sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'); setTimeout(() => c.sock.end(), 20); });
  const r2 = await send(makePool(t, srv2.port));
  t.is(r2.body.toString(), 'abc');
  t.is(r2.error?.code, 'UND_ERR_SOCKET');
  t.deepEqual([r2.heads, r2.completes, r2.errors], [1, 0, 1]);
});

test('bytes after a complete response (same write) never answer the next request', async (t) => {
  let n = 0;
  const srv = await rawServer(t, (c) => {
    n++;
    if (n === 1) c.sock.write(ok('first') + 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage');
    else c.sock.write(ok(`fresh${n}`));
  });
  const pool = makePool(t, srv.port, { connections: 1 });
  const r = await send(pool);
  t.is(r.body.toString(), 'first');
  t.is(r.completes, 1);
  const r2 = await send(pool);
  t.true(r2.body.toString() !== 'garbage', 'the stray response must not answer the next request');
  t.is(r2.error, undefined);
  t.is(r2.body.toString(), 'fresh2');
  t.is(srv.conns.length, 2, 'the out-of-step connection was dropped');
});

test('bytes arriving on an idle connection make it unusable; the next request gets its own response', async (t) => {
  let n = 0;
  const srv = await rawServer(t, (c) => {
    n++;
    c.sock.write(ok(`r${n}`));
    if (n === 1) setTimeout(() => c.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage'), 20);
  });
  const pool = makePool(t, srv.port, { connections: 1 });
  const r = await send(pool);
  t.is(r.body.toString(), 'r1');
  // The client drops the connection when the stray bytes come.
  await once(srv.conns[0]!.sock, 'close');
  const r2 = await send(pool);
  t.is(r2.error, undefined);
  t.is(r2.body.toString(), 'r2');
  t.is(srv.conns.length, 2);
});

// 8. Stale keep-alive connections

/**
 * Answers the first request of each connection with keep-alive, then drops the connection:
 * `timer` 50 ms later (a request that came meanwhile is left unanswered), or `next` as soon
 * as the next request arrives on it: the race a client meets when the server closes its
 * idle connection just as the request goes out.
 */
async function closingServer(t: ExecutionContext, mode: 'timer' | 'next') {
  let answered = 0;
  return httpServer(t, (_req, res, s) => {
    const sock = s.socket as net.Socket & { answered?: boolean };
    if (sock.answered) { if (mode === 'next') sock.destroy(); return; }
    sock.answered = true;
    answered++;
    res.setHeader('connection', 'keep-alive');
    res.end(`answer ${answered}`);
    if (mode === 'timer') setTimeout(() => sock.destroy(), 50);
  });
}

for (const mode of ['timer', 'next'] as const) {
  test(`stale keep-alive (${mode}): a GET on a connection the server closes is sent again once, on a new one`, async (t) => {
    const srv = await closingServer(t, mode);
    const pool = makePool(t, srv.port, { connections: 1 });
    const r1 = await send(pool, { path: '/1' });
    t.is(r1.body.toString(), 'answer 1');
    const r2 = await send(pool, { path: '/2' }); // goes out on the kept-alive connection right away
    t.is(r2.error, undefined);
    t.is(r2.status, 200);
    t.is(r2.body.toString(), 'answer 2');
    t.deepEqual([r2.heads, r2.completes, r2.errors], [1, 1, 0]);
    t.is(srv.connections(), 2);
    if (mode === 'next') t.deepEqual(srv.seen.map((s) => s.url), ['/1', '/2', '/2'], 'sent on the stale connection, then again');
  });

  test(`stale keep-alive (${mode}): a POST or PUT with a stream body is not sent again; it fails`, async (t) => {
    for (const method of ['POST', 'PUT']) {
      const srv = await closingServer(t, mode);
      const pool = makePool(t, srv.port, { connections: 1 });
      const r1 = await send(pool);
      t.is(r1.body.toString(), 'answer 1');
      const body = new PassThrough();
      body.end('payload');
      const r2 = await send(pool, { method, path: '/p', body: body as Readable });
      t.true(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(r2.error?.code ?? ''), `${method}: code ${r2.error?.code}`);
      t.deepEqual([r2.heads, r2.completes, r2.errors], [0, 0, 1]);
      await sleep(100);
      t.is(srv.connections(), 1, `${method} was not sent again`);
      if (mode === 'next') t.deepEqual(srv.seen.map((s) => `${s.method} ${s.url} ${s.body.toString()}`), ['GET / ', `${method} /p payload`]);
    }
  });
}

// 9. Keep-Alive hint

test('Keep-Alive: timeout=1 from the server: the connection is not reused (hint minus 1 s leaves nothing)', async (t) => {
  const hinted = await rawServer(t, (c) => { c.sock.write(ok('hinted', 'Connection: keep-alive\r\nKeep-Alive: timeout=1, max=100\r\n')); });
  const pool = makePool(t, hinted.port);
  const a = await send(pool);
  t.is(header(a.headers, 'keep-alive'), 'timeout=1, max=100');
  const b = await send(pool);
  t.is(b.body.toString(), 'hinted');
  t.is(hinted.conns.length, 2, 'a new connection for the second request');
  t.is(hinted.conns[0]!.requests.length, 1);

  // node:http with keepAliveTimeout 1 s sends the same hint.
  const short = await httpServer(t, (_req, res) => { res.end('z'); }, 1000);
  const sp = makePool(t, short.port);
  const c1 = await send(sp);
  t.is(header(c1.headers, 'keep-alive'), 'timeout=1');
  await send(sp);
  t.is(short.connections(), 2);

  // Control: node's default hint (timeout=5) leaves room to reuse.
  const normal = await httpServer(t, (_req, res) => { res.end('y'); });
  const np = makePool(t, normal.port);
  const d1 = await send(np);
  t.is(header(d1.headers, 'keep-alive'), 'timeout=5');
  await send(np);
  t.is(normal.connections(), 1);
});

// 10. abort()

test('abort() while waiting for the head: that error reaches onError once and the server sees the socket close', async (t) => {
  let gotRequest: () => void = () => undefined;
  const arrived = new Promise<void>((r) => { gotRequest = r; });
  const srv = await httpServer(t, () => { gotRequest(); });
  const pool = makePool(t, srv.port);
  let abort: (err?: Error) => void = () => undefined;
  const p = send(pool, {}, { onConnect: (a) => { abort = a; } });
  await arrived;
  const closed = once(srv.seen[0]!.socket, 'close');
  const mine = new Error('stop it');
  abort(mine);
  abort(new Error('again')); // a second abort is a no-op
  const r = await p;
  t.is(r.error, mine);
  await closed;
  await sleep(50);
  t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);

  // Without an error: UND_ERR_ABORTED; the pool goes on working.
  const r2 = await send(pool, { path: '/2' }, { onConnect: (a) => { setTimeout(() => a(), 50); } });
  t.is(r2.error?.code, 'UND_ERR_ABORTED');
  t.deepEqual([r2.heads, r2.completes, r2.errors], [0, 0, 1]);
});

test('abort() of a queued request: onError once, nothing sent for it', async (t) => {
  const srv = await httpServer(t, (_req, res) => { setTimeout(() => res.end('ok'), 100); });
  const pool = makePool(t, srv.port, { connections: 1 });
  const first = send(pool, { path: '/first' });
  let abort: (err?: Error) => void = () => undefined;
  const queued = send(pool, { path: '/queued' }, { onConnect: (a) => { abort = a; } });
  abort();
  const [a, b] = await Promise.all([first, queued]);
  t.is(a.body.toString(), 'ok');
  t.is(b.error?.code, 'UND_ERR_ABORTED');
  t.deepEqual([b.heads, b.completes, b.errors], [0, 0, 1]);
  t.deepEqual(srv.seen.map((s) => s.url), ['/first']);
});

// 11. Backpressure

/** Server writes for the backpressure tests: small, so one client read holds several (chunked) body chunks. */
const PIECE = 16 * 1024;

/** A server streaming `size` bytes in PIECE writes (chunked framing unless told the length), honouring its own backpressure. */
function streamer(size: number, contentLength: boolean) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (contentLength) res.setHeader('content-length', size);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(PIECE, size - sent);
        const piece = Buffer.alloc(n, (sent / PIECE) & 0xff);
        sent += n;
        if (!res.write(piece)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  };
}

const expected = (size: number) => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += PIECE) b.fill((i / PIECE) & 0xff, i, Math.min(size, i + PIECE));
  return b;
};

for (const framing of ['chunked', 'content-length'] as const) {
  test(`backpressure (${framing}): after onData returns false nothing arrives until resume(); then the rest does`, async (t) => {
    const size = 8 * 1024 * 1024;
    const srv = await httpServer(t, streamer(size, framing === 'content-length'));
    const pool = makePool(t, srv.port);
    let total = 0;
    let pausedAt = -1;
    let afterPause = -1;
    let callsWhilePaused = 0;
    let paused = false;
    const r = await send(pool, {}, {
      onData: (_chunk, sum, resume) => {
        total = sum;
        if (paused) callsWhilePaused++;
        if (pausedAt < 0 && sum >= 1024 * 1024) {
          pausedAt = sum;
          paused = true;
          setTimeout(() => {
            afterPause = total;
            paused = false;
            resume();
          }, 150);
          return false;
        }
        return true;
      },
    });
    t.is(r.error, undefined);
    t.true(pausedAt >= 1024 * 1024 && pausedAt < size, `paused at ${pausedAt}`);
    t.is(afterPause, pausedAt, `bytes kept arriving while paused: ${afterPause - pausedAt}`);
    t.is(callsWhilePaused, 0, 'onData called between returning false and resume()');
    t.is(r.body.length, size);
    t.true(r.body.equals(expected(size)));
    t.is(r.completes, 1);
  });
}

test('onData returning false on the last chunk does not leave a paused connection in the pool', async (t) => {
  // The handler pauses on the final chunk and resumes only if the exchange is still
  // waiting 200 ms later (as the contract asks). Once onComplete has come it has no reason
  // to call resume() (the proxy's client may be gone, so its 'drain' never fires).
  const srv = await httpServer(t, (req, res) => { res.end(`body of ${req.url}`); });
  const pool = makePool(t, srv.port, { connections: 1, headersTimeout: 1000 });
  let completed = false;
  let resumedByHandler = false;
  const r1 = await send(pool, { path: '/1' }, {
    onData: (_chunk, _sum, resume) => {
      setTimeout(() => { if (!completed) { resumedByHandler = true; resume(); } }, 200);
      return false;
    },
  });
  completed = true;
  t.is(r1.error, undefined);
  t.is(r1.body.toString(), 'body of /1');
  t.log(`onComplete ${resumedByHandler ? 'after' : 'without'} resume()`);
  const r2 = await send(pool, { path: '/2' });
  t.is(r2.error, undefined, `next request on the pool failed: ${r2.error?.code}`);
  t.is(r2.body.toString(), 'body of /2');
  t.is(srv.connections(), 1);
});

// 12. Header injection

test('CR/LF in a header value or a space in the path: UND_ERR_INVALID_ARG, nothing written, pool still works', async (t) => {
  const srv = await rawServer(t, (c) => { c.sock.write(ok('fine')); });
  const pool = makePool(t, srv.port, { connections: 1 });
  const received = () => srv.conns.reduce((n, c) => n + c.received(), 0);

  // On a connection not yet open...
  const bad: Array<Partial<H1Request>> = [
    { headers: ['x-a', 'b\r\nx-injected: 1'] },
    { path: '/a b' },
    { headers: ['x-a', 'b\nx: 1'] },
    { headers: ['bad name', 'v'] },
    { path: '/x HTTP/1.1\r\nx-injected: 1\r\n\r\nGET /' },
  ];
  for (const req of bad) {
    const r = await send(pool, req);
    t.is(r.error?.code, 'UND_ERR_INVALID_ARG', JSON.stringify(req));
    t.deepEqual([r.heads, r.completes, r.errors], [0, 0, 1]);
  }
  await sleep(50);
  t.is(received(), 0, 'no byte reached the server');

  const good = await send(pool);
  t.is(good.body.toString(), 'fine');
  const before = received();

  // ...and on an open, idle one.
  for (const req of bad) {
    const r = await send(pool, req);
    t.is(r.error?.code, 'UND_ERR_INVALID_ARG', JSON.stringify(req));
  }
  await sleep(50);
  t.is(received(), before, 'no byte reached the server');
  const again = await send(pool, { path: '/after' });
  t.is(again.body.toString(), 'fine');
  t.true(srv.conns.flatMap((c) => c.requests).every((h) => !h.includes('injected')));
  t.is(srv.conns.at(-1)!.requests.at(-1), `GET /after HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\n\r\n`);

  // Entries after the caller-vouched ones (`checked`: what policies add) are checked too.
  const late = await send(pool, { headers: ['x-from-parser', 'ok', 'x-consumer-name', 'eve\r\nx-injected: 1'], checked: 2 });
  t.is(late.error?.code, 'UND_ERR_INVALID_ARG');
  t.true(srv.conns.flatMap((c) => c.requests).every((h) => !h.includes('injected')));
});

// 13. close()

test('close() resolves only after the in-flight request completes; dispatch after close -> UND_ERR_CLOSED', async (t) => {
  const srv = await httpServer(t, (_req, res) => { setTimeout(() => res.end('slow'), 200); });
  const pool = makePool(t, srv.port);
  const order: string[] = [];
  const inflight = send(pool).then((r) => { order.push('request'); return r; });
  await sleep(30);
  const closing = pool.close().then(() => { order.push('closed'); });
  const late = await send(pool);
  t.is(late.error?.code, 'UND_ERR_CLOSED');
  t.deepEqual([late.heads, late.completes, late.errors], [0, 0, 1]);
  await closing;
  const r = await inflight;
  t.deepEqual(order, ['request', 'closed']);
  t.is(r.body.toString(), 'slow');
  t.is(r.completes, 1);
  t.is(srv.seen.length, 1);
});

test('close() on an idle pool resolves and the server sees its connections closed', async (t) => {
  const srv = await httpServer(t, (_req, res) => { res.end('x'); });
  const pool = makePool(t, srv.port);
  await send(pool);
  const sock = srv.seen[0]!.socket;
  const closed = once(sock, 'close');
  await pool.close();
  await closed;
  t.true(sock.destroyed);
});
