/**
 * Gatehouse's own HTTP/2 server connection (RFC 9113), in place of Node's `http2` server
 * (decision 0015). It shares the frame layout and HPACK (../http/hpack/) with
 * the upstream client, and gives h2.ts what Node's server gave it: a session per connection
 * and a Duplex per stream with the methods h2-exchange.ts uses (respond, additionalHeaders,
 * sendTrailers, close(code), setTimeout, endAfterHeaders, 'wantTrailers', 'aborted').
 *
 * - Reads: frames are parsed in place from the socket's chunks. A request body goes to the
 *   stream's readable side; the connection window is credited at once, the stream's as the
 *   reader keeps up (a paused reader holds at most one stream window here).
 * - Writes: frames queue on the session and leave in one `socket.write` per turn of the event
 *   loop. DATA waits for the peer's stream and connection windows; a write's callback waits
 *   for them, and for the socket when more than 1 MiB is unsent, so a slow reader pushes back.
 * - Limits (each closes only this connection; the session's owner counts why):
 *   SETTINGS_MAX_CONCURRENT_STREAMS (streams past it get REFUSED_STREAM and go to the
 *   owner's reset count); SETTINGS_MAX_HEADER_LIST_SIZE (the block is still decoded, the
 *   stream gets 431); a header block in more than MAX_CONTINUATIONS frames or MAX_BLOCK bytes
 *   (continuation_flood); PING and SETTINGS go to the owner's control count; past 8 MiB
 *   unsent (a peer that does not read our acks) the connection is closed (enhance_your_calm);
 *   anything against the protocol closes it with GOAWAY (protocol_error).
 * - Requests are checked as RFC 9113 §8 asks: pseudo-headers first, once each, the ones the
 *   method needs; lower-case names; no connection-specific fields; TE only "trailers"; a body
 *   that matches its content-length. A malformed request is reset (PROTOCOL_ERROR).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { HpackDecoder, HpackEncoder } from '../http/hpack/hpack.ts';

const DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9;
const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY_FLAG = 0x20;
export const NO_ERROR = 0, PROTOCOL_ERROR = 1, INTERNAL_ERROR = 2, FLOW_CONTROL_ERROR = 3, STREAM_CLOSED = 5, FRAME_SIZE_ERROR = 6, REFUSED_STREAM = 7, CANCEL = 8, COMPRESSION_ERROR = 9, ENHANCE_YOUR_CALM = 11;

const MAX_FRAME = 16_384;
/**
 * Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE, the RFC's default) and for the
 * connection. A stream holds at most its window of body nobody has read, so a connection holds
 * at most maxConcurrentStreams x 64 KiB (6.4 MiB at the default 100 streams).
 */
const STREAM_WINDOW = 65_535;
const CONN_WINDOW = 4 * 1024 * 1024;
const MAX_WINDOW = 2 ** 31 - 1;
/** A header block may come in this many CONTINUATION frames and this many bytes at most. */
const MAX_CONTINUATIONS = 128;
const MAX_BLOCK = 256 * 1024;
/** Unsent bytes past which the peer is not reading: the connection is closed. */
const MAX_UNSENT = 8 * 1024 * 1024;
/** Unsent bytes past which stream writes wait for the socket. */
const BUSY = 1024 * 1024;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const MAX_RESET_IDS = 1024;
const EMPTY = Buffer.alloc(0);
/** Fields HTTP/2 forbids (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** A field name: a token in lower case (RFC 9110 §5.1, RFC 9113 §8.2.1). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** What a field value may not hold (RFC 9113 §8.2.1): NUL, CR, LF anywhere, whitespace at either end. */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;
/** What a response field value may not hold, as Node's HTTP servers refuse it (not latin1-visible, or a control). */
const BAD_RESPONSE_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** :method (a token) and :path (origin form: visible ASCII from "/", or "*"). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PATH = /^\/[\x21-\x7e\x80-\xff]*$/;
/**
 * Repeats of these keep the first value in `headers` (the flat list keeps them all), as
 * Node's HTTP/1.1 and HTTP/2 servers do; other repeats are joined.
 */
const SINGLE_VALUE = new Set(['access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'dnt', 'etag',
  'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location',
  'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options']);

function frameHead(len: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.allocUnsafe(9 + (type === DATA || type === HEADERS || type === CONTINUATION ? 0 : len));
  b[0] = len >>> 16; b[1] = (len >>> 8) & 0xff; b[2] = len & 0xff; b[3] = type; b[4] = flags;
  b.writeUInt32BE(id, 5);
  return b;
}

export interface ServerSessionOptions {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
}

/** What a session reports to its owner (h2.ts). */
export interface ServerSessionOwner {
  /** A new request stream; `headers` as Node's server gives them (joined repeats), `raw` the flat list. */
  onStream(stream: ServerStream, headers: Record<string, string | string[]>, raw: string[]): void;
  /** A PING or SETTINGS arrived (not an ack). */
  onControl(session: ServerSession): void;
  /** A stream was refused (over the concurrency cap) or reset as malformed: counted like a reset. */
  onRefused(session: ServerSession): void;
  /** The session closed the connection itself, for this reason (counted). */
  onFailed(session: ServerSession, reason: string): void;
}

type Headers = Record<string, string | string[]>;

export class ServerSession extends EventEmitter {
  readonly socket: Socket;
  private readonly owner: ServerSessionOwner;
  private readonly opts: ServerSessionOptions;
  private readonly streams = new Map<number, ServerStream>();
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private lastId = 0;
  /** The latest streams we reset (at most MAX_RESET_IDS). */
  private readonly resetIds = new Set<number>();
  private gotPreface = false;
  private gotSettings = false;
  peerWindow = 65_535;
  private peerMaxFrame = 16_384;
  private sendWindow = 65_535;
  private recvWindow = CONN_WINDOW;
  private connUnacked = 0;
  private rest: Buffer | undefined = undefined;
  private contId = 0;
  private contFlags = 0;
  private contParts: Buffer[] = [];
  private contBytes = 0;
  private contCount = 0;
  private outq: Buffer[] = [];
  private outBytes = 0;
  private flushing = false;
  /** Streams whose DATA waits for window, and writes that wait for the socket. */
  private blocked: ServerStream[] = [];
  private waiting: Array<() => void> = [];
  /** GOAWAY sent: no new streams; the connection ends once the open ones are done. */
  closing = false;
  destroyed = false;
  private ended = false;

  constructor(socket: Socket, opts: ServerSessionOptions, owner: ServerSessionOwner) {
    super();
    this.socket = socket;
    this.opts = opts;
    this.owner = owner;
    this.decoder = new HpackDecoder(4096, opts.maxHeaderListSize);
    const settings = frameHead(24, SETTINGS, 0, 0);
    let p = 9;
    for (const [k, v] of [[3, opts.maxConcurrentStreams], [4, STREAM_WINDOW], [6, opts.maxHeaderListSize], [8, 1 /* ENABLE_CONNECT_PROTOCOL */]] as const) {
      settings.writeUInt16BE(k, p); settings.writeUInt32BE(v, p + 2); p += 6;
    }
    const wu = frameHead(4, WINDOW_UPDATE, 0, 0);
    wu.writeUInt32BE(CONN_WINDOW - 65_535, 9);
    this.queue(settings);
    this.queue(wu);
    socket.on('data', (chunk: Buffer) => { this.read(chunk); });
    socket.on('drain', () => { this.drained(); });
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('close', () => { this.onSocketClose(); });
  }

  /** Open streams. */
  get size(): number { return this.streams.size; }

  busy(): boolean { return this.socket.writableLength + this.outBytes > BUSY; }

  // ---- writing ------------------------------------------------------------------------------

  queue(b: Buffer): void {
    // After the socket's end (a failed or drained connection), nothing more can go out.
    if (this.destroyed || this.ended) return;
    this.outq.push(b);
    this.outBytes += b.length;
    if (!this.flushing) { this.flushing = true; setImmediate(flushSession, this); }
  }

  flush(): void {
    this.flushing = false;
    const q = this.outq;
    if (q.length === 0 || this.destroyed) return;
    this.outq = [];
    const n = this.outBytes;
    this.outBytes = 0;
    this.socket.write(q.length === 1 ? q[0]! : Buffer.concat(q, n));
    if (this.waiting.length && !this.busy()) this.drained();
  }

  /** Run `fn` once the socket has room (now, when it has). */
  whenWritable(fn: () => void): void {
    if (!this.busy()) { fn(); return; }
    this.waiting.push(fn);
  }

  private drained(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const fn of w) fn();
  }

  headerFrames(id: number, fields: string[], end: boolean): void {
    const block = this.encoder.encode(fields);
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.queue(frameHead(block.length, HEADERS, END_HEADERS | (end ? END_STREAM : 0), id));
      this.queue(block);
      return;
    }
    for (let off = 0; off < block.length; off += max) {
      const part = block.subarray(off, off + max);
      const last = off + max >= block.length;
      this.queue(frameHead(part.length, off === 0 ? HEADERS : CONTINUATION, (last ? END_HEADERS : 0) | (off === 0 && end ? END_STREAM : 0), id));
      this.queue(part);
    }
  }

  /** DATA for as much of `chunk` as the windows allow; the rest back, or undefined when all went (END_STREAM with the last if `end`). */
  sendData(s: ServerStream, chunk: Buffer, end: boolean): Buffer | undefined {
    let off = 0;
    const len = chunk.length;
    for (;;) {
      const n = Math.min(len - off, s.sendWindow, this.sendWindow, this.peerMaxFrame);
      const last = off + n === len;
      if (n <= 0 && !(last && end && len - off === 0)) return off === 0 ? chunk : chunk.subarray(off);
      this.queue(frameHead(n, DATA, last && end ? END_STREAM : 0, s.id));
      if (n > 0) this.queue(off === 0 && last ? chunk : chunk.subarray(off, off + n));
      s.sendWindow -= n;
      this.sendWindow -= n;
      off += n;
      if (last) return undefined;
    }
  }

  block(s: ServerStream): void { this.blocked.push(s); }

  /** What the peer's connection window still takes. */
  windowLeft(): number { return this.sendWindow; }

  private unblock(): void {
    if (this.blocked.length === 0) return;
    const waiting = this.blocked;
    this.blocked = [];
    for (const s of waiting) if (!s.flushOut()) this.blocked.push(s);
  }

  rst(id: number, code: number): void {
    const b = frameHead(4, RST_STREAM, 0, id);
    b.writeUInt32BE(code, 9);
    this.queue(b);
    // Frames the client sent before our RST_STREAM reached it are ignored (RFC 9113 §5.1).
    const r = this.resetIds;
    r.add(id);
    if (r.size > MAX_RESET_IDS) for (const old of r) { r.delete(old); break; }
  }

  windowUpdate(id: number, n: number): void {
    const b = frameHead(4, WINDOW_UPDATE, 0, id);
    b.writeUInt32BE(n, 9);
    this.queue(b);
  }

  private goaway(code: number): void {
    const b = frameHead(8, GOAWAY, 0, 0);
    b.writeUInt32BE(this.lastId, 9);
    b.writeUInt32BE(code, 13);
    this.queue(b);
  }

  // ---- lifetime -----------------------------------------------------------------------------

  /** A stream is over. */
  forget(s: ServerStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    if (this.streams.size === 0 && this.closing) this.end();
  }

  /** Graceful close: GOAWAY (the streams already open finish), then the connection. */
  close(): void {
    if (this.closing || this.destroyed) return;
    this.closing = true;
    this.goaway(NO_ERROR);
    if (this.streams.size === 0) this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    this.socket.end();
    setTimeout(destroySocket, 1000, this.socket).unref();
  }

  /** Close for the peer's fault or abuse: GOAWAY with `code`, counted by the owner as `reason`. */
  fail(code: number, reason: string): void {
    if (this.destroyed || this.ended) return;
    this.owner.onFailed(this, reason);
    this.closing = true;
    this.goaway(code);
    this.end();
    for (const s of [...this.streams.values()]) s.lost();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.socket.destroy();
  }

  private onSocketClose(): void {
    this.destroyed = true;
    const lost = [...this.streams.values()];
    this.streams.clear();
    this.blocked = [];
    this.waiting = [];
    for (const s of lost) s.lost();
    this.emit('close');
  }

  /** The peer does not read what we owe it (acks): past 8 MiB the connection goes. */
  private flooded(): boolean {
    if (this.socket.writableLength + this.outBytes <= MAX_UNSENT) return false;
    this.fail(ENHANCE_YOUR_CALM, 'enhance_your_calm');
    return true;
  }

  // ---- reading ------------------------------------------------------------------------------

  private read(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) { buf = Buffer.concat([this.rest, chunk]); this.rest = undefined; }
    let off = 0;
    if (!this.gotPreface) {
      if (buf.length < PREFACE.length) { if (PREFACE.subarray(0, buf.length).equals(buf)) this.rest = buf; else this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
      this.gotPreface = true;
      off = PREFACE.length;
    }
    const end = buf.length;
    while (end - off >= 9 && !this.destroyed && !this.ended) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > MAX_FRAME) { this.fail(FRAME_SIZE_ERROR, 'protocol_error'); return; }
      if (end - off - 9 < len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const p = off + 9;
      off = p + len;
      this.frame(type, flags, id, buf, p, off);
    }
    if (off < end && !this.destroyed && !this.ended) this.rest = buf.subarray(off);
    // Whatever the peer's frames made us owe it (acks, resets, 431s) and it does not read.
    if (!this.destroyed && !this.ended) this.flooded();
  }

  private frame(type: number, flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (!this.gotSettings && type !== SETTINGS) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    if (this.contId !== 0 && type !== CONTINUATION) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    switch (type) {
      case DATA: this.onData(flags, id, buf, p0, p1); return;
      case HEADERS: this.onHeaders(flags, id, buf, p0, p1); return;
      case CONTINUATION: this.onContinuation(flags, id, buf, p0, p1); return;
      case RST_STREAM: {
        if (id === 0 || p1 - p0 !== 4) { this.fail(id === 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'protocol_error'); return; }
        if (id > this.lastId) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
        this.streams.get(id)?.reset();
        return;
      }
      case SETTINGS: this.onSettings(flags, id, buf, p0, p1); return;
      case PING: {
        if (id !== 0 || p1 - p0 !== 8) { this.fail(id !== 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'protocol_error'); return; }
        if ((flags & ACK) !== 0) return;
        this.owner.onControl(this);
        if (this.ended || this.flooded()) return;
        const b = frameHead(8, PING, ACK, 0); buf.copy(b, 9, p0, p1); this.queue(b);
        return;
      }
      case GOAWAY:
        if (id !== 0 || p1 - p0 < 8) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
        // The client is leaving: what is open finishes, nothing new starts.
        if (!this.closing) { this.closing = true; if (this.streams.size === 0) this.end(); }
        return;
      case WINDOW_UPDATE: {
        if (p1 - p0 !== 4) { this.fail(FRAME_SIZE_ERROR, 'protocol_error'); return; }
        const n = buf.readUInt32BE(p0) & 0x7fffffff;
        if (id === 0) {
          if (n === 0) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
          this.sendWindow += n;
          if (this.sendWindow > MAX_WINDOW) { this.fail(FLOW_CONTROL_ERROR, 'protocol_error'); return; }
        } else {
          const s = this.streams.get(id);
          if (s === undefined) { if (id > this.lastId) this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
          if (n === 0) { s.close(PROTOCOL_ERROR); return; }
          s.sendWindow += n;
          s.touch();
          if (s.sendWindow > MAX_WINDOW) { s.close(FLOW_CONTROL_ERROR); return; }
        }
        this.unblock();
        return;
      }
      case PUSH_PROMISE: this.fail(PROTOCOL_ERROR, 'protocol_error'); return;
      case PRIORITY:
        if (id === 0 || p1 - p0 !== 5) this.fail(id === 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'protocol_error');
        return;
      default: return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onSettings(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id !== 0) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    if ((flags & ACK) !== 0) { if (p1 !== p0) this.fail(FRAME_SIZE_ERROR, 'protocol_error'); return; }
    if ((p1 - p0) % 6 !== 0) { this.fail(FRAME_SIZE_ERROR, 'protocol_error'); return; }
    this.gotSettings = true;
    this.owner.onControl(this);
    if (this.ended || this.flooded()) return;
    for (let p = p0; p < p1; p += 6) {
      const k = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (k) {
        case 1: this.encoder.setPeerTableSize(v); break;
        case 2: if (v > 1) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; } break;
        case 4: {
          if (v > MAX_WINDOW) { this.fail(FLOW_CONTROL_ERROR, 'protocol_error'); return; }
          const delta = v - this.peerWindow;
          this.peerWindow = v;
          for (const s of this.streams.values()) s.sendWindow += delta;
          break;
        }
        case 5:
          if (v < 16_384 || v > 16_777_215) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
          this.peerMaxFrame = v;
          break;
        default: break;
      }
    }
    this.queue(frameHead(0, SETTINGS, ACK, 0));
    this.unblock();
  }

  private onData(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id === 0) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    const len = p1 - p0;
    this.recvWindow -= len;
    if (this.recvWindow < 0) { this.fail(FLOW_CONTROL_ERROR, 'protocol_error'); return; }
    this.connUnacked += len;
    if (this.connUnacked >= CONN_WINDOW / 2) { this.recvWindow += this.connUnacked; this.windowUpdate(0, this.connUnacked); this.connUnacked = 0; }
    let pad = 0;
    if ((flags & PADDED) !== 0) {
      if (len < 1 || buf[p0]! >= len) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
      pad = buf[p0]! + 1;
      p1 -= buf[p0]!;
      p0++;
    }
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastId) this.fail(PROTOCOL_ERROR, 'protocol_error');
      // A stream already closed here (reset, refused, answered): its DATA in flight is dropped.
      return;
    }
    s.data(buf, p0, p1, pad, len, (flags & END_STREAM) !== 0);
  }

  private onHeaders(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id === 0) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    if ((flags & PADDED) !== 0) {
      const pad = buf[p0]!;
      if (p1 - p0 < 1 || pad >= p1 - p0) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
      p0++; p1 -= pad;
    }
    if ((flags & PRIORITY_FLAG) !== 0) {
      if (p1 - p0 < 5) { this.fail(FRAME_SIZE_ERROR, 'protocol_error'); return; }
      p0 += 5;
    }
    const frag = buf.subarray(p0, p1);
    if ((flags & END_HEADERS) === 0) {
      this.contId = id; this.contFlags = flags; this.contParts = [frag]; this.contBytes = frag.length; this.contCount = 0;
      return;
    }
    this.headerBlock(id, flags, frag);
  }

  private onContinuation(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (this.contId === 0 || id !== this.contId) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    this.contParts.push(buf.subarray(p0, p1));
    this.contBytes += p1 - p0;
    if (++this.contCount > MAX_CONTINUATIONS || this.contBytes > MAX_BLOCK) { this.fail(ENHANCE_YOUR_CALM, 'continuation_flood'); return; }
    if ((flags & END_HEADERS) === 0) return;
    const block = Buffer.concat(this.contParts, this.contBytes);
    this.contId = 0; this.contParts = []; this.contBytes = 0;
    this.headerBlock(id, this.contFlags, block);
  }

  /** A whole header block: always decoded, so the HPACK table stays in step with the client's. */
  private headerBlock(id: number, flags: number, block: Buffer): void {
    const f: string[] = [];
    let fits: boolean;
    try { fits = this.decoder.decode(block, f, true); } catch { this.fail(COMPRESSION_ERROR, 'protocol_error'); return; }
    const end = (flags & END_STREAM) !== 0;
    const open = this.streams.get(id);
    if (open !== undefined) {
      // Trailers: they end the request (their fields are not passed on).
      if (open.remoteDone) { open.close(STREAM_CLOSED); return; }
      if (!end || !fits) { open.close(PROTOCOL_ERROR); return; }
      open.remoteEnd();
      return;
    }
    // On a stream we reset: sent before our RST_STREAM arrived, ignored (decoded above).
    if ((id & 1) === 1 && id <= this.lastId && this.resetIds.has(id)) return;
    if ((id & 1) === 0 || id <= this.lastId) { this.fail(PROTOCOL_ERROR, 'protocol_error'); return; }
    this.lastId = id;
    if (this.closing) { this.rst(id, REFUSED_STREAM); return; }
    if (this.streams.size >= this.opts.maxConcurrentStreams) {
      this.rst(id, REFUSED_STREAM);
      this.owner.onRefused(this);
      return;
    }
    if (!fits) {
      // Over SETTINGS_MAX_HEADER_LIST_SIZE: 431 on this stream (RFC 6585), the connection goes on.
      this.headerFrames(id, [':status', '431'], true);
      if (!end) this.rst(id, NO_ERROR);
      return;
    }
    const req = checkRequest(f);
    if (req === undefined) { this.rst(id, PROTOCOL_ERROR); this.owner.onRefused(this); return; }
    const s = new ServerStream(this, id, end, req.length);
    this.streams.set(id, s);
    if (end) s.push(null);
    this.owner.onStream(s, req.headers, req.raw);
  }
}

function flushSession(s: ServerSession): void { s.flush(); }
function destroySocket(sock: Socket): void { sock.destroy(); }

/**
 * A request's fields as RFC 9113 §8.3 allows them, or undefined (the stream is reset):
 * headers joined as Node's server joins them (cookie with "; ", set-cookie as a list, others
 * with ", "), the flat list as it came, and the declared content-length (-1: none).
 */
function checkRequest(f: string[]): { headers: Headers; raw: string[]; length: number } | undefined {
  const headers: Headers = Object.create(null) as Headers;
  let regular = false;
  let method: string | undefined, scheme: string | undefined, path: string | undefined, protocol: string | undefined;
  let length = -1;
  for (let i = 0; i < f.length; i += 2) {
    const k = f[i]!;
    const v = f[i + 1]!;
    if (k.charCodeAt(0) === 58) {
      if (regular || BAD_VALUE.test(v)) return undefined;
      switch (k) {
        case ':method': if (method !== undefined) return undefined; method = v; break;
        case ':scheme': if (scheme !== undefined) return undefined; scheme = v; break;
        case ':path': if (path !== undefined) return undefined; path = v; break;
        case ':protocol': if (protocol !== undefined) return undefined; protocol = v; break;
        case ':authority': if (headers[k] !== undefined) return undefined; break;
        default: return undefined;
      }
      headers[k] = v;
      continue;
    }
    regular = true;
    if (!FIELD_NAME.test(k) || CONNECTION_SPECIFIC.has(k) || BAD_VALUE.test(v)) return undefined;
    if (k === 'te' && v !== 'trailers') return undefined;
    if (k === 'content-length') {
      if (!/^\d{1,15}$/.test(v)) return undefined;
      const n = Number(v);
      if (length !== -1 && n !== length) return undefined;
      length = n;
    }
    const had = headers[k];
    if (had === undefined) headers[k] = k === 'set-cookie' ? [v] : v;
    else if (SINGLE_VALUE.has(k)) continue;
    else if (k === 'set-cookie') (had as string[]).push(v);
    else headers[k] = `${had as string}${k === 'cookie' ? '; ' : ', '}${v}`;
  }
  if (method === undefined || !METHOD.test(method)) return undefined;
  if (method === 'CONNECT') {
    // Plain CONNECT: :authority only. Extended CONNECT (RFC 8441): :protocol with :scheme and :path.
    if (protocol === undefined ? scheme !== undefined || path !== undefined || headers[':authority'] === undefined : scheme === undefined || path === undefined) return undefined;
  } else if (protocol !== undefined || scheme === undefined || path === undefined || !(PATH.test(path) || (path === '*' && method === 'OPTIONS'))) return undefined;
  if (path !== undefined && protocol !== undefined && !PATH.test(path)) return undefined;
  if (headers[':authority'] !== undefined && /[\s@]/.test(headers[':authority'] as string)) return undefined;
  return { headers, raw: f, length };
}

/**
 * One request stream: the body is its readable side, the response its writable side.
 * Closed (Duplex 'close') once both sides ended, when the client or the node resets it, or
 * when the connection goes.
 */
export class ServerStream extends Duplex {
  readonly id: number;
  readonly session: ServerSession;
  readonly endAfterHeaders: boolean;
  headersSent = false;
  sendWindow: number;
  private recvWindow = STREAM_WINDOW;
  private unacked = 0;
  /** Bytes the reader has not taken yet (push returned false): credited in _read. */
  private owed = 0;
  private remoteEnded: boolean;
  private localEnded = false;
  /** RST_STREAM sent or received: nothing more goes out. */
  private reset_ = false;
  private rstCode = CANCEL;
  private readonly expected: number;
  private received = 0;
  /** A write waiting for window: the rest of its chunk and its callback. */
  private out: Buffer | undefined = undefined;
  private outCb: ((err?: Error | null) => void) | undefined = undefined;
  private outEnd = false;
  private waitTrailers = false;
  private finalCb: ((err?: Error | null) => void) | undefined = undefined;
  private timeoutMs = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  private lastActive = 0;

  constructor(session: ServerSession, id: number, endAfterHeaders: boolean, expected: number) {
    super({ highWaterMark: 16_384 });
    this.session = session;
    this.id = id;
    this.endAfterHeaders = endAfterHeaders;
    this.remoteEnded = endAfterHeaders;
    this.expected = expected;
    this.sendWindow = session.peerWindow;
    this.once('finish', onFinish);
  }

  // ---- what h2-exchange.ts calls --------------------------------------------------------------

  /** The response head: a flat list (or an object); `endStream` for a head-only response. */
  respond(headers: string[] | Record<string, unknown>, opts: { endStream?: boolean; waitForTrailers?: boolean } = {}): void {
    if (this.headersSent) throw Object.assign(new Error('Response has already been initiated.'), { code: 'ERR_HTTP2_HEADERS_SENT' });
    if (this.reset_ || this.destroyed) return;
    const flat = Array.isArray(headers) ? headers : toFlat(headers);
    checkResponseFields(flat);
    this.headersSent = true;
    this.touch();
    const end = opts.endStream === true;
    this.session.headerFrames(this.id, flat, end);
    if (end) { this.localEnded = true; this.end(); this.maybeClosed(); return; }
    this.waitTrailers = opts.waitForTrailers === true;
  }

  /** An interim (1xx) head before the final one. */
  additionalHeaders(h: Record<string, unknown>): void {
    if (this.headersSent || this.reset_ || this.destroyed) return;
    const flat = toFlat(h);
    checkResponseFields(flat);
    this.session.headerFrames(this.id, flat, false);
  }

  /** The trailers ('wantTrailers'): HEADERS with END_STREAM (an empty set: an empty DATA frame). */
  sendTrailers(t: Record<string, unknown>): void {
    if (this.localEnded || this.reset_) { this.finishFinal(); return; }
    const flat = toFlat(t);
    this.localEnded = true;
    if (flat.length === 0) this.session.sendData(this, EMPTY, true);
    else this.session.headerFrames(this.id, flat, true);
    this.finishFinal();
    this.maybeClosed();
  }

  /** Reset the stream with `code` (RST_STREAM) and destroy it. */
  close(code: number = NO_ERROR): void {
    if (this.destroyed) return;
    this.rstCode = code;
    this.destroy();
  }

  /** Node's stream timeout: 'timeout' after `ms` without a frame either way (0 turns it off). */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb !== undefined) this.once('timeout', cb);
    this.timeoutMs = ms;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (ms > 0 && !this.destroyed) { this.lastActive = Date.now(); this.timer = setTimeout(onStreamTimer, ms, this); }
    return this;
  }

  touch(): void { if (this.timer !== undefined) this.lastActive = Date.now(); }

  checkTimeout(): void {
    this.timer = undefined;
    if (this.destroyed || this.timeoutMs === 0) return;
    const left = this.lastActive + this.timeoutMs - Date.now();
    if (left > 0) { this.timer = setTimeout(onStreamTimer, left, this); return; }
    this.emit('timeout');
  }

  // ---- from the session ---------------------------------------------------------------------

  /** A DATA payload (p0..p1, after padding) for this stream; `len` counts against its window. */
  data(buf: Buffer, p0: number, p1: number, pad: number, len: number, end: boolean): void {
    if (this.remoteEnded) { this.close(STREAM_CLOSED); return; }
    this.recvWindow -= len;
    if (this.recvWindow < 0) { this.close(FLOW_CONTROL_ERROR); return; }
    const n = p1 - p0;
    this.received += n;
    if (this.expected >= 0 && (this.received > this.expected || (end && this.received !== this.expected))) { this.close(PROTOCOL_ERROR); return; }
    this.touch();
    if (pad > 0) this.credit(pad);
    if (n > 0) {
      // Copied: the socket's chunk is shared with the frames around it.
      if (this.push(Buffer.from(buf.subarray(p0, p1)))) this.credit(n);
      else this.owed += n;
    }
    if (end) this.remoteEnd();
  }

  private credit(n: number): void {
    this.unacked += n;
    if (this.unacked >= STREAM_WINDOW / 2 && !this.remoteEnded && !this.reset_) {
      this.recvWindow += this.unacked;
      this.session.windowUpdate(this.id, this.unacked);
      this.unacked = 0;
    }
  }

  remoteEnd(): void {
    if (this.remoteEnded) return;
    if (this.expected >= 0 && this.received !== this.expected) { this.close(PROTOCOL_ERROR); return; }
    this.remoteEnded = true;
    this.push(null);
    this.maybeClosed();
  }

  /** RST_STREAM from the client. */
  reset(): void {
    if (this.destroyed) return;
    this.reset_ = true;
    if (!(this.remoteEnded && this.localEnded)) this.emit('aborted');
    this.destroy();
  }

  /** The connection is gone (or failed): the stream ends without a word on the wire. */
  lost(): void {
    if (this.destroyed) return;
    this.reset_ = true;
    this.destroy();
  }

  /** Send what waited for window. True once nothing waits. */
  flushOut(): boolean {
    const rest = this.out;
    if (rest === undefined) return true;
    if (this.reset_ || this.destroyed) { this.out = undefined; return true; }
    const left = this.session.sendData(this, rest, this.outEnd);
    if (left !== undefined) { this.out = left; return false; }
    this.out = undefined;
    const cb = this.outCb;
    this.outCb = undefined;
    this.session.whenWritable(() => { cb?.(); });
    return true;
  }

  get remoteDone(): boolean { return this.remoteEnded; }

  /** Both ends sent END_STREAM: the stream is closed in HTTP/2 terms. */
  private maybeClosed(): void {
    if (!(this.remoteEnded && this.localEnded)) return;
    this.session.forget(this);
  }

  // ---- Duplex -------------------------------------------------------------------------------

  /**
   * `end(chunk)` with nothing queued and no trailers to wait for: the chunk goes in the last
   * DATA frame with END_STREAM, as Node's server sends it (no empty frame after the body).
   */
  override end(a?: unknown, b?: unknown, c?: unknown): this {
    if ((typeof a === 'string' || a instanceof Uint8Array) && typeof b !== 'string' && this.headersSent && !this.waitTrailers && !this.localEnded && !this.reset_
      && !this.destroyed && !this.writableEnded && this.writableLength === 0 && this.out === undefined) {
      const chunk = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      if (chunk.length <= Math.min(this.sendWindow, this.session.windowLeft())) {
        this.touch();
        this.session.sendData(this, chunk, true);
        this.localEnded = true;
        super.end(b as () => void);
        this.maybeClosed();
        return this;
      }
    }
    return super.end(a as never, b as never, c as never);
  }

  override _read(): void {
    if (this.owed > 0) { const n = this.owed; this.owed = 0; this.credit(n); }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localEnded || this.reset_) { cb(); return; }
    if (!this.headersSent) this.respond([':status', '200']);
    this.touch();
    const rest = this.session.sendData(this, chunk, false);
    if (rest !== undefined) { this.out = rest; this.outCb = cb; this.outEnd = false; this.session.block(this); return; }
    this.session.whenWritable(() => { cb(); });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localEnded || this.reset_) { cb(); return; }
    if (!this.headersSent) this.respond([':status', '200']);
    if (this.localEnded) { cb(); return; }
    if (this.waitTrailers) {
      this.finalCb = cb;
      this.emit('wantTrailers');
      return;
    }
    this.localEnded = true;
    this.session.sendData(this, EMPTY, true);
    cb();
    this.maybeClosed();
  }

  private finishFinal(): void {
    const cb = this.finalCb;
    this.finalCb = undefined;
    cb?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.reset_ && !(this.remoteEnded && this.localEnded)) {
      this.reset_ = true;
      this.session.rst(this.id, err ? INTERNAL_ERROR : this.rstCode);
    }
    this.out = undefined;
    this.session.forget(this);
    cb(err);
  }
}

/**
 * The response is complete. A request body that has fully arrived but nobody read is dropped
 * (the stream closes, both ends having sent END_STREAM); one still coming is read and dropped
 * until the client ends it, as Node's server leaves such a stream open: an RST_STREAM here
 * makes some clients (curl 7.88 after a refused `Expect: 100-continue`) drop the response
 * they already have. A client that never ends it meets the stream idle timeout.
 */
function onFinish(this: ServerStream): void {
  if (this.readableEnded || this.destroyed) return;
  if (this.remoteDone) this.destroy();
  else this.resume();
}

function onStreamTimer(s: ServerStream): void { s.checkTimeout(); }

function toFlat(h: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) out.push(k, String(one));
    else out.push(k, String(v));
  }
  return out;
}

/** Response fields Node's server would refuse: thrown, as h2-exchange.ts's writeHead expects. */
function checkResponseFields(flat: string[]): void {
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const v = flat[i + 1]!;
    if (k.charCodeAt(0) !== 58 && (!FIELD_NAME.test(k) || CONNECTION_SPECIFIC.has(k))) throw Object.assign(new TypeError(`Invalid HTTP/2 header ${JSON.stringify(k)}`), { code: 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' });
    if (BAD_RESPONSE_VALUE.test(v)) throw Object.assign(new TypeError(`Invalid value for header ${JSON.stringify(k)}`), { code: 'ERR_INVALID_CHAR' });
  }
}
