/**
 * The gateway's own HTTP/2 client (session.ts) against Node's HTTP/2 server (nghttp2): what
 * a proxy relies on — bodies larger than every window both ways, trailers, a paused reader
 * holding no more than one stream window, resets and GOAWAY from the server, padding,
 * header blocks split over CONTINUATION, and a server that breaks the protocol.
 */
import test from 'ava';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { REFUSED_STREAM, WireSession, type SessionOwner, type StreamOwner, type WireStream } from './session.ts';

interface Seen { status?: number; head?: string[]; info: number[]; body: Buffer[]; trailers?: string[]; ended: boolean; reset?: number; drains: number; idle: number }

class Recorder implements StreamOwner {
  readonly seen: Seen = { info: [], body: [], ended: false, drains: 0, idle: 0 };
  pauseOnData = false;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => { this.done = r; });
  onHead(status: number, fields: string[]): boolean { this.seen.status = status; this.seen.head = fields; return true; }
  onInfo(status: number): void { this.seen.info.push(status); }
  onData(chunk: Buffer): boolean { this.seen.body.push(chunk); return !this.pauseOnData; }
  onTrailers(fields: string[]): void { this.seen.trailers = fields; }
  onEnd(): void { this.seen.ended = true; this.done(); }
  onReset(code: number): void { this.seen.reset = code; this.done(); }
  onDrain(): void { this.seen.drains++; }
  onIdle(): void { this.seen.idle++; }
}

class SessionEvents implements SessionOwner {
  ready!: () => void;
  readonly isReady = new Promise<void>((r) => { this.ready = r; });
  goaways = 0;
  closed: Error | undefined | null = null;
  closedP!: () => void;
  readonly isClosed = new Promise<void>((r) => { this.closedP = r; });
  onReady(): void { this.ready(); }
  onGoaway(): void { this.goaways++; }
  onClose(err: Error | undefined): void { this.closed = err; this.closedP(); }
}

async function server(handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, opts: http2.ServerOptions = {}): Promise<{ port: number; srv: http2.Http2Server; close: () => Promise<void> }> {
  const srv = http2.createServer(opts);
  srv.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => { stream.on('error', () => undefined); handler(stream, headers); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  return {
    port: (srv.address() as AddressInfo).port,
    srv,
    close: () => new Promise<void>((r) => { for (const s of sessions) s.destroy(); srv.close(() => r()); }),
  };
}

async function connect(port: number, idleMs = 10_000): Promise<{ ses: WireSession; ev: SessionEvents }> {
  const ev = new SessionEvents();
  const ses = new WireSession(net.connect(port, '127.0.0.1'), ev, { idleMs });
  await ev.isReady;
  return { ses, ev };
}

const get = (path: string, extra: string[] = []): string[] => [':method', 'GET', ':path', path, ':scheme', 'http', ':authority', 'up', ...extra];
const post = (path: string, extra: string[] = []): string[] => [':method', 'POST', ':path', path, ':scheme', 'http', ':authority', 'up', ...extra];
const field = (f: string[] | undefined, name: string): string | undefined => { if (!f) return undefined; for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1]; return undefined; };

test('a GET, its head, body and trailers; request headers reach the server as sent, repeated ones too', async (t) => {
  const up = await server((stream, headers) => {
    stream.respond({ ':status': 200, 'x-seen': `${headers['x-one']}|${headers['x-two']}|${headers[':path']}` }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }));
    stream.end('hello');
  });
  const { ses } = await connect(up.port);
  try {
    for (let i = 0; i < 3; i++) {
      const r = new Recorder();
      ses.request(get(`/p${i}?q=1`, ['x-one', 'a', 'x-two', `b${i}`, 'te', 'trailers']), true, r);
      await r.finished;
      t.is(r.seen.status, 200);
      t.is(field(r.seen.head, 'x-seen'), `a|b${i}|/p${i}?q=1`);
      t.is(Buffer.concat(r.seen.body).toString(), 'hello');
      t.deepEqual(r.seen.trailers, ['grpc-status', '0', 'grpc-message', 'ok']);
      t.true(r.seen.ended);
    }
    t.is(ses.active, 0);
  } finally { ses.destroy(); await up.close(); }
});

test('bodies larger than every window go through both ways (1 MiB up, 6 MiB down), 40 streams at once', async (t) => {
  const up = await server((stream) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => {
      const got = Buffer.concat(parts);
      stream.respond({ ':status': 200, 'x-len': String(got.length), 'x-sum': String(got.reduce((a, b) => (a + b) % 65521, 0)) });
      const big = Buffer.alloc(6 * 1024 * 1024, 7);
      stream.end(big);
    });
  });
  const { ses } = await connect(up.port);
  try {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const sum = String(body.reduce((a, b) => (a + b) % 65521, 0));
    const calls = Array.from({ length: 40 }, async () => {
      const r = new Recorder();
      const s: WireStream = ses.request(post('/up'), false, r);
      s.end(body);
      await r.finished;
      return r;
    });
    for (const r of await Promise.all(calls)) {
      t.is(r.seen.reset, undefined);
      t.is(field(r.seen.head, 'x-len'), String(body.length));
      t.is(field(r.seen.head, 'x-sum'), sum);
      t.is(r.seen.body.reduce((a, c) => a + c.length, 0), 6 * 1024 * 1024);
    }
  } finally { ses.destroy(); await up.close(); }
});

test('a paused reader holds at most one stream window; the others on the session are not slowed; resume delivers the rest in order', async (t) => {
  const total = 8 * 1024 * 1024;
  const up = await server((stream, headers) => {
    stream.respond({ ':status': 200 });
    if (headers[':path'] === '/small') { stream.end('small'); return; }
    let sent = 0;
    const push = (): void => {
      while (sent < total) {
        const c = Buffer.alloc(16384, (sent / 16384) % 256);
        sent += c.length;
        if (!stream.write(c)) { stream.once('drain', push); return; }
      }
      stream.end();
    };
    push();
  });
  const { ses } = await connect(up.port);
  try {
    const slow = new Recorder();
    slow.pauseOnData = true;
    const s = ses.request(get('/big'), true, slow);
    await new Promise((r) => setTimeout(r, 300));
    // The first chunk paused it; what arrived since is held, bounded by our stream window.
    t.is(slow.seen.body.length, 1);
    const held = (s.held ?? []).reduce((a, c) => a + c.length, 0);
    t.true(held <= 256 * 1024, `held ${held}`);
    // Another stream on the same session is served meanwhile.
    const quick = new Recorder();
    ses.request(get('/small'), true, quick);
    await quick.finished;
    t.is(Buffer.concat(quick.seen.body).toString(), 'small');
    slow.pauseOnData = false;
    s.resume();
    await slow.finished;
    const got = Buffer.concat(slow.seen.body);
    t.is(got.length, total);
    for (let off = 0; off < total; off += 16384) if (got[off] !== (off / 16384) % 256) { t.fail(`out of order at ${off}`); break; }
  } finally { ses.destroy(); await up.close(); }
});

test('RST_STREAM from the server reaches the owner with its code; the session goes on', async (t) => {
  const up = await server((stream, headers) => {
    if (headers[':path'] === '/refuse') { stream.close(http2.constants.NGHTTP2_REFUSED_STREAM); return; }
    stream.respond({ ':status': 204 });
    stream.end();
  });
  const { ses } = await connect(up.port);
  try {
    const r = new Recorder();
    ses.request(get('/refuse'), true, r);
    await r.finished;
    t.is(r.seen.reset, REFUSED_STREAM);
    const ok = new Recorder();
    ses.request(get('/ok'), true, ok);
    await ok.finished;
    t.is(ok.seen.status, 204);
  } finally { ses.destroy(); await up.close(); }
});

test('GOAWAY: streams past its last id are refused (safe to resend), the one it kept finishes, then the session closes', async (t) => {
  let first: http2.ServerHttp2Stream | undefined;
  const up = await server((stream) => {
    if (first === undefined) {
      first = stream;
      return; // held until the GOAWAY is out
    }
  });
  const { ses, ev } = await connect(up.port);
  try {
    const a = new Recorder();
    ses.request(get('/a'), true, a);
    while (first === undefined) await new Promise((r) => setTimeout(r, 10));
    // A stream the server will not have processed: GOAWAY names stream 1 as its last.
    const b = new Recorder();
    ses.request(get('/b'), true, b);
    first.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await b.finished;
    t.is(b.seen.reset, REFUSED_STREAM);
    t.is(ev.goaways, 1);
    t.false(ses.open);
    first.respond({ ':status': 200 });
    first.end('kept');
    await a.finished;
    t.is(Buffer.concat(a.seen.body).toString(), 'kept');
    await ev.isClosed;
  } finally { ses.destroy(); await up.close(); }
});

test('padded frames and a response head split over CONTINUATION frames are read', async (t) => {
  const long = 'v'.repeat(20_000);
  const up = await server((stream) => {
    stream.respond({ ':status': 200, 'x-long': long, 'x-after': 'yes' });
    stream.end('padded body');
  }, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  const { ses } = await connect(up.port);
  try {
    const r = new Recorder();
    ses.request(get('/'), true, r);
    await r.finished;
    t.is(field(r.seen.head, 'x-long'), long);
    t.is(field(r.seen.head, 'x-after'), 'yes');
    t.is(Buffer.concat(r.seen.body).toString(), 'padded body');
  } finally { ses.destroy(); await up.close(); }
});

test('a stream with no frame either way for the idle time is reported idle', async (t) => {
  const up = await server((stream) => { stream.respond({ ':status': 200 }); stream.write('x'); /* and nothing more */ });
  const { ses } = await connect(up.port, 200);
  try {
    const r = new Recorder();
    ses.request(get('/'), true, r);
    await new Promise((res) => setTimeout(res, 600));
    t.true(r.seen.idle >= 1);
  } finally { ses.destroy(); await up.close(); }
});

test('a server that breaks the protocol: GOAWAY, the connection closes with an error, open streams are reset', async (t) => {
  // A raw server: SETTINGS, then DATA on stream 0 (a connection error).
  const raw = net.createServer((sock) => {
    sock.once('data', () => {
      const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
      sock.write(settings);
      setTimeout(() => { sock.write(Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41])); }, 50);
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const ev = new SessionEvents();
  const ses = new WireSession(net.connect((raw.address() as AddressInfo).port, '127.0.0.1'), ev, { idleMs: 10_000 });
  try {
    await ev.isReady;
    const r = new Recorder();
    ses.request(get('/'), true, r);
    await ev.isClosed;
    t.truthy(ev.closed);
    t.regex(ev.closed!.message, /DATA on stream 0/);
    t.not(r.seen.reset, undefined);
  } finally { ses.destroy(); await new Promise<void>((r) => raw.close(() => r())); }
});

/** A raw HTTP/2 server that answers every HEADERS frame from the client with `answer(streamId)`'s frames. */
async function rawServer(answer: (id: number) => Buffer[]): Promise<{ port: number; close: () => Promise<void> }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let preface = false;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!preface) { if (buf.length < 24) return; buf = buf.subarray(24); preface = true; sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3]!;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === 1) for (const f of answer(id)) sock.write(f);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }) };
}

function rawFrame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2), no Huffman. */
function literalBlock(fields: string[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const n = Buffer.from(fields[i]!, 'latin1');
    const v = Buffer.from(fields[i + 1]!, 'latin1');
    parts.push(Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v);
  }
  return Buffer.concat(parts);
}

test('a response body longer or shorter than its Content-Length is a stream reset, never passed on as complete', async (t) => {
  const up = await rawServer((id) => {
    const declared = id === 1 ? '3' : id === 3 ? '10' : '5';
    return [
      rawFrame(1, 0x4, id, literalBlock([':status', '200', 'content-length', declared])),
      rawFrame(0, 0x1, id, Buffer.from('hello')),
    ];
  });
  const { ses } = await connect(up.port);
  try {
    const longer = new Recorder();
    ses.request(get('/'), true, longer);
    await longer.finished;
    t.is(longer.seen.reset, 1, 'PROTOCOL_ERROR');
    t.false(longer.seen.ended);
    t.is(Buffer.concat(longer.seen.body).length, 0, 'the surplus chunk is not delivered');
    const shorter = new Recorder();
    ses.request(get('/'), true, shorter);
    await shorter.finished;
    t.is(shorter.seen.reset, 1);
    t.false(shorter.seen.ended);
    const exact = new Recorder();
    ses.request(get('/'), true, exact);
    await exact.finished;
    t.is(exact.seen.reset, undefined);
    t.is(Buffer.concat(exact.seen.body).toString(), 'hello');
  } finally { ses.destroy(); await up.close(); }
});

test('a malformed or conflicting Content-Length in a response head resets the stream', async (t) => {
  const up = await rawServer((id) => [rawFrame(1, 0x4 | 0x1, id, literalBlock([':status', '200', 'content-length', id === 1 ? '1x' : '4', ...(id === 3 ? ['content-length', '5'] : [])]))]);
  const { ses } = await connect(up.port);
  try {
    for (let i = 0; i < 2; i++) {
      const r = new Recorder();
      ses.request(get('/'), true, r);
      await r.finished;
      t.is(r.seen.reset, 1);
      t.is(r.seen.status, undefined);
    }
  } finally { ses.destroy(); await up.close(); }
});

test('a server that floods PINGs and never reads our acks is cut off (ENHANCE_YOUR_CALM) before the acks pile up without bound', async (t) => {
  // A raw server: SETTINGS, then PING frames as fast as the socket takes them, and it stops
  // reading the connection, so every PING ACK of ours stays unsent.
  let sent = 0;
  let stop = false;
  const socks = new Set<net.Socket>();
  const raw = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => undefined);
    sock.once('data', () => {
      sock.pause();
      sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      const ping = rawFrame(6, 0, 0, Buffer.alloc(8));
      const burst = Buffer.concat(Array.from({ length: 4096 }, () => ping));
      const pump = (): void => {
        while (!stop && !sock.destroyed) {
          sent += burst.length;
          if (!sock.write(burst)) { sock.once('drain', pump); return; }
        }
      };
      pump();
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const ev = new SessionEvents();
  const sock = net.connect((raw.address() as AddressInfo).port, '127.0.0.1');
  const ses = new WireSession(sock, ev, { idleMs: 10_000 });
  try {
    await ev.isClosed;
    stop = true;
    t.truthy(ev.closed, 'the session closes with an error');
    t.regex(ev.closed!.message, /flood/);
    // 8 MiB of acks unsent is the bound (17 bytes an ack): the flood took at least that many PINGs.
    t.true(sent >= 8 * 1024 * 1024, `the server sent ${sent} bytes of PINGs`);
    t.true(sock.destroyed, 'the connection is gone');
  } finally {
    stop = true;
    ses.destroy();
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => raw.close(() => r()));
  }
});
