/**
 * The least a gRPC pass-through on Gatehouse's own HTTP/2 code can do, for bench/h2-profile.ts's
 * `PROXY=own`: h2c with prior knowledge in (a bare frame loop on the own HPACK, not Node's
 * `http2` server), the own client (nodes/src/upstream/h2/wire) out, frames and trailers
 * forwarded. No limits, no flow control on what it sends (the responses are far below any
 * window), no CONTINUATION, no routing, no policies: it is an experiment that says what a
 * downstream HTTP/2 server of our own could reach in the protocol rows' layout, next to
 * `PROXY=bare` (the same on Node's `http2`). Never a server to put in front of anyone.
 *
 *   bare-own-h2-proxy.ts LISTEN_PORT UPSTREAM_PORT
 */
import net from 'node:net';
import { HpackDecoder, HpackEncoder } from '../../nodes/src/http/hpack/hpack.ts';
import { WireSession, type StreamOwner, type WireStream } from '../../nodes/src/upstream/h2/wire/session.ts';

const [listen, upstream] = process.argv.slice(2).map(Number) as [number, number];
const DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PING = 6, WINDOW_UPDATE = 8;
const END_STREAM = 1, ACK = 1, END_HEADERS = 4, PADDED = 8, PRIORITY = 0x20;

function head(len: number, type: number, flags: number, id: number, extra = 0): Buffer {
  const b = Buffer.allocUnsafe(9 + extra);
  b[0] = len >>> 16; b[1] = (len >>> 8) & 0xff; b[2] = len & 0xff; b[3] = type; b[4] = flags;
  b.writeUInt32BE(id, 5);
  return b;
}

// One upstream session, made before the listener opens (streams may start once it is ready).
let up!: WireSession;
function connectUpstream(): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(upstream, '127.0.0.1');
    sock.setNoDelay(true);
    sock.on('error', () => undefined);
    up = new WireSession(sock, { onReady() { resolve(); }, onGoaway() {}, onClose() { setTimeout(() => { void connectUpstream().then(resolve); }, 100); } }, { idleMs: 60_000 });
  });
}
function upstreamSession(): WireSession { return up; }

class Conn {
  readonly sock: net.Socket;
  readonly dec = new HpackDecoder(4096, 65536);
  readonly enc = new HpackEncoder();
  readonly calls = new Map<number, Call>();
  rest: Buffer | undefined;
  preface = false;
  outq: Buffer[] = [];
  flushing = false;
  unacked = 0;
  constructor(sock: net.Socket) {
    this.sock = sock;
    const settings = head(12, SETTINGS, 0, 0, 12);
    settings.writeUInt16BE(3, 9); settings.writeUInt32BE(100, 11); // MAX_CONCURRENT_STREAMS
    settings.writeUInt16BE(4, 15); settings.writeUInt32BE(1 << 20, 17); // INITIAL_WINDOW_SIZE
    this.queue(settings);
    sock.on('data', (c: Buffer) => { this.read(c); });
    sock.on('error', () => undefined);
    sock.on('close', () => { for (const c of this.calls.values()) c.up?.cancel(); this.calls.clear(); });
  }
  queue(b: Buffer): void {
    this.outq.push(b);
    if (!this.flushing) { this.flushing = true; setImmediate(flush, this); }
  }
  read(chunk: Buffer): void {
    let buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = undefined;
    if (!this.preface) { if (buf.length < 24) { this.rest = buf; return; } buf = buf.subarray(24); this.preface = true; }
    let off = 0;
    while (buf.length - off >= 9) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (buf.length - off - 9 < len) break;
      const type = buf[off + 3]!, flags = buf[off + 4]!, id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const p = off + 9;
      off = p + len;
      this.frame(type, flags, id, buf, p, off);
    }
    if (off < buf.length) this.rest = buf.subarray(off);
  }
  frame(type: number, flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    switch (type) {
      case HEADERS: {
        let p = p0, e = p1;
        if (flags & PADDED) { e -= buf[p]!; p++; }
        if (flags & PRIORITY) p += 5;
        const f: string[] = [];
        this.dec.decode(buf.subarray(p, e), f);
        const call = new Call(this, id);
        this.calls.set(id, call);
        call.start(f, (flags & END_STREAM) !== 0);
        return;
      }
      case DATA: {
        let p = p0, e = p1;
        if (flags & PADDED) { e -= buf[p]!; p++; }
        this.unacked += p1 - p0;
        if (this.unacked > 32768) { const w = head(4, WINDOW_UPDATE, 0, 0, 4); w.writeUInt32BE(this.unacked, 9); this.queue(w); this.unacked = 0; }
        const call = this.calls.get(id);
        if (call?.up === undefined) return;
        const end = (flags & END_STREAM) !== 0;
        if (e > p) { if (end) call.up.end(Buffer.from(buf.subarray(p, e))); else call.up.write(Buffer.from(buf.subarray(p, e))); } else if (end) call.up.end();
        return;
      }
      case SETTINGS: if (!(flags & ACK)) this.queue(head(0, SETTINGS, ACK, 0)); return;
      case PING: if (!(flags & ACK)) { const b = head(8, PING, ACK, 0, 8); buf.copy(b, 9, p0, p1); this.queue(b); } return;
      case RST_STREAM: { const c = this.calls.get(id); this.calls.delete(id); c?.up?.cancel(); return; }
      default: return;
    }
  }
}

function flush(c: Conn): void {
  c.flushing = false;
  const q = c.outq;
  c.outq = [];
  if (!c.sock.destroyed) c.sock.write(q.length === 1 ? q[0]! : Buffer.concat(q));
}

class Call implements StreamOwner {
  readonly c: Conn;
  readonly id: number;
  up: WireStream | undefined;
  ended = false;
  constructor(c: Conn, id: number) { this.c = c; this.id = id; }
  start(f: string[], end: boolean): void {
    const h: string[] = [];
    for (let i = 0; i < f.length; i += 2) { const k = f[i]!; if (k === ':authority') h.push(k, `127.0.0.1:${upstream}`); else h.push(k, f[i + 1]!); }
    this.up = upstreamSession().request(h, end, this);
  }
  private headers(fields: string[], end: boolean): void {
    const block = this.c.enc.encode(fields);
    this.c.queue(head(block.length, HEADERS, END_HEADERS | (end ? END_STREAM : 0), this.id));
    this.c.queue(block);
  }
  onHead(status: number, fields: string[]): boolean { this.headers([':status', String(status), ...fields], false); return true; }
  onInfo(): void {}
  onData(chunk: Buffer): boolean { this.c.queue(head(chunk.length, DATA, 0, this.id)); this.c.queue(chunk); return true; }
  onTrailers(fields: string[]): void { this.ended = true; this.headers(fields, true); }
  onEnd(): void { if (!this.ended) this.c.queue(head(0, DATA, END_STREAM, this.id)); this.c.calls.delete(this.id); }
  onReset(): void { const b = head(4, RST_STREAM, 0, this.id, 4); b.writeUInt32BE(8, 9); this.c.queue(b); this.c.calls.delete(this.id); }
  onDrain(): void {}
  onIdle(): void {}
}

await connectUpstream();
net.createServer({ noDelay: true }, (sock) => { new Conn(sock); }).listen(listen, '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
