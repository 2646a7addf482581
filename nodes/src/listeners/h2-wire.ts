/**
 * Gatehouse's own HTTP/2 server connection (RFC 9113), in place of Node's `http2` server
 * (decision 0015). Framing, windows, the frame reader, CONTINUATION limits and SETTINGS come
 * from the connection base it shares with the upstream client (../http/h2/connection.ts),
 * HPACK from ../http/hpack/. This file adds the server's role and gives h2.ts what Node's
 * server gave it: a session per connection and a Duplex per stream with the methods
 * h2-exchange.ts uses (respond, additionalHeaders, sendTrailers, close(code), setTimeout,
 * endAfterHeaders, 'wantTrailers', 'aborted').
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
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { HpackDecoder } from '../http/hpack/hpack.ts';
import {
  ACK, CANCEL, COMPRESSION_ERROR, CONN_WINDOW, EMPTY, END_STREAM, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, GOAWAY, H2Connection, INTERNAL_ERROR,
  MAX_WINDOW, NO_ERROR, PING, PREFACE, PRIORITY, PROTOCOL_ERROR, PUSH_PROMISE, REFUSED_STREAM, RST_STREAM, SETTINGS, STREAM_CLOSED, WINDOW_UPDATE,
  CONTINUATION, DATA, HEADERS, frameHead,
} from '../http/h2/connection.ts';

export { CANCEL, ENHANCE_YOUR_CALM, NO_ERROR } from '../http/h2/connection.ts';

/**
 * Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE, the RFC's default). A stream
 * holds at most its window of body nobody has read, so a connection holds at most
 * maxConcurrentStreams x 64 KiB (6.4 MiB at the default 100 streams).
 */
const STREAM_WINDOW = 65_535;
/** A header block may come in this many CONTINUATION frames and this many bytes at most. */
const MAX_CONTINUATIONS = 128;
const MAX_BLOCK = 256 * 1024;
/** Unsent bytes past which stream writes wait for the socket. */
const BUSY = 1024 * 1024;
const MAX_RESET_IDS = 1024;
/** The reasons a session closes a connection for, as counted; any other failure is a protocol_error. */
const REASONS = new Set(['continuation_flood', 'enhance_your_calm', 'rapid_reset', 'control_flood']);
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

export class ServerSession extends H2Connection {
  private readonly owner: ServerSessionOwner;
  private readonly opts: ServerSessionOptions;
  private readonly streams = new Map<number, ServerStream>();
  private readonly decoder: HpackDecoder;
  private lastId = 0;
  /** The latest streams we reset (at most MAX_RESET_IDS). */
  private readonly resetIds = new Set<number>();
  private gotPreface = false;
  /** The start of the preface, while it comes in pieces. */
  private prefix: Buffer | undefined = undefined;
  private gotSettings = false;
  /** Streams whose DATA waits for window, and writes that wait for the socket. */
  private blocked: ServerStream[] = [];
  private waiting: Array<() => void> = [];
  private closeListeners: Array<() => void> = [];
  /** GOAWAY sent: no new streams; the connection ends once the open ones are done. */
  closing = false;
  destroyed = false;
  private ended = false;

  constructor(socket: Socket, opts: ServerSessionOptions, owner: ServerSessionOwner) {
    super(socket, MAX_BLOCK, MAX_CONTINUATIONS);
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

  protected get live(): boolean { return !this.destroyed && !this.ended; }

  /** `fn` runs once the connection is gone. */
  onClose(fn: () => void): void { this.closeListeners.push(fn); }

  busy(): boolean { return this.socket.writableLength + this.outBytes > BUSY; }

  // ---- writing ------------------------------------------------------------------------------

  override flush(): void {
    super.flush();
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

  /** A stream's DATA waits for window. */
  wait(s: ServerStream): void { this.blocked.push(s); }

  protected unblock(): void {
    if (this.blocked.length === 0) return;
    const waiting = this.blocked;
    this.blocked = [];
    for (const s of waiting) if (!s.flushOut()) this.blocked.push(s);
  }

  override rst(id: number, code: number): void {
    super.rst(id, code);
    // Frames the client sent before our RST_STREAM reached it are ignored (RFC 9113 §5.1).
    const r = this.resetIds;
    r.add(id);
    if (r.size > MAX_RESET_IDS) for (const old of r) { r.delete(old); break; }
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
    this.goaway(this.lastId, NO_ERROR);
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
  fail(code: number, why: string): void {
    if (this.destroyed || this.ended) return;
    this.owner.onFailed(this, REASONS.has(why) ? why : 'protocol_error');
    this.closing = true;
    this.goaway(this.lastId, code);
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
    const fns = this.closeListeners;
    this.closeListeners = [];
    for (const fn of fns) fn();
  }

  /** The peer does not read what we owe it (acks): past 8 MiB the connection goes. */
  private flooded(): boolean {
    if (!this.overUnsent()) return false;
    this.fail(ENHANCE_YOUR_CALM, 'enhance_your_calm');
    return true;
  }

  // ---- reading ------------------------------------------------------------------------------

  private read(chunk: Buffer): void {
    let buf = chunk;
    if (!this.gotPreface) {
      if (this.prefix !== undefined) { buf = Buffer.concat([this.prefix, chunk]); this.prefix = undefined; }
      if (buf.length < PREFACE.length) { if (PREFACE.subarray(0, buf.length).equals(buf)) this.prefix = buf; else this.fail(PROTOCOL_ERROR, 'no preface'); return; }
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) { this.fail(PROTOCOL_ERROR, 'no preface'); return; }
      this.gotPreface = true;
      buf = buf.subarray(PREFACE.length);
    }
    this.readFrames(buf);
    // Whatever the peer's frames made us owe it (acks, resets, 431s) and it does not read.
    if (this.live) this.flooded();
  }

  protected frame(type: number, flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (!this.gotSettings && type !== SETTINGS) { this.fail(PROTOCOL_ERROR, 'first frame not SETTINGS'); return; }
    switch (type) {
      case DATA: this.dataFrame(flags, id, buf, p0, p1); return;
      case HEADERS: this.headersFrame(flags, id, buf, p0, p1); return;
      case CONTINUATION: this.continuationFrame(flags, id, buf, p0, p1); return;
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
      case WINDOW_UPDATE: this.windowUpdateFrame(id, buf, p0, p1); return;
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
    if (!this.applySettings(buf, p0, p1, this.streams.values())) return;
    this.queue(frameHead(0, SETTINGS, ACK, 0));
    this.unblock();
  }

  protected streamData(id: number, buf: Buffer, p0: number, p1: number, pad: number, len: number, end: boolean): void {
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastId) this.fail(PROTOCOL_ERROR, 'protocol_error');
      // A stream already closed here (reset, refused, answered): its DATA in flight is dropped.
      return;
    }
    s.data(buf, p0, p1, pad, len, end);
  }

  protected streamWindow(id: number, n: number): void {
    const s = this.streams.get(id);
    if (s === undefined) { if (id > this.lastId) this.fail(PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream'); return; }
    if (n === 0) { s.close(PROTOCOL_ERROR); return; }
    s.sendWindow += n;
    s.touch();
    if (s.sendWindow > MAX_WINDOW) s.close(FLOW_CONTROL_ERROR);
  }

  /** A whole header block: always decoded, so the HPACK table stays in step with the client's. */
  protected block(id: number, flags: number, block: Buffer): void {
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
    if (rest !== undefined) { this.out = rest; this.outCb = cb; this.outEnd = false; this.session.wait(this); return; }
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
