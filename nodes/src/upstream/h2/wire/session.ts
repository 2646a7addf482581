/**
 * Gatehouse's own HTTP/2 client connection (RFC 9113) for upstream calls, in place of Node's
 * `http2.connect` (decision 0013). It frames, flow-controls and HPACK-codes what the pool
 * (../pool.ts) needs and nothing else: no server push (refused in SETTINGS), no priorities,
 * no PING of its own. A stream is not a Node stream: its owner (the pool's exchange) gets
 * direct calls (onHead, onData, onTrailers, onEnd, onReset), so a call costs two objects
 * here instead of a Duplex, an AsyncResource and a dozen listeners.
 *
 * - Writes are batched: frames queue on the session and go out in one `socket.write` per
 *   turn of the event loop (setImmediate, as Node's own HTTP/2 does), so the calls of one
 *   burst share a syscall.
 * - Flow control: what we receive is credited on the connection at once (one slow reader
 *   never stalls the session) and on a stream only as its owner takes the data: a paused
 *   owner holds at most one stream window (STREAM_WINDOW) here. What we send waits for the
 *   peer's stream and connection windows; `write` returns false until `onDrain`.
 * - Idle: one interval per session advances an epoch every quarter of `idleMs`; a stream
 *   with no frame either way for four epochs gets `onIdle` (no timer per stream).
 * - Errors from the peer that break the connection (bad frames, HPACK errors) send GOAWAY
 *   and close it; every open stream gets `onReset`.
 */
import type { Socket } from 'node:net';
import { HpackDecoder } from '../../../http/hpack/hpack.ts';
import {
  ACK, CANCEL, COMPRESSION_ERROR, CONN_WINDOW, EMPTY, END_STREAM, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, GOAWAY, H2Connection, MAX_WINDOW, NO_ERROR,
  PING, PREFACE, PRIORITY, PROTOCOL_ERROR, PUSH_PROMISE, REFUSED_STREAM, RST_STREAM, SETTINGS, STREAM_CLOSED, WINDOW_UPDATE, CONTINUATION, DATA, HEADERS,
  FRAME_SIZE_ERROR, frameHead,
} from '../../../http/h2/connection.ts';

export { CANCEL, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, STREAM_CLOSED } from '../../../http/h2/connection.ts';

/** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). */
const STREAM_WINDOW = 256 * 1024;
const MAX_STREAM_ID = 2 ** 31 - 1;

/** What a stream reports to whoever opened it. */
export interface StreamOwner {
  /** The final response head (pseudo-headers left out); false pauses the stream until `resume()`. */
  onHead(status: number, fields: string[]): boolean;
  /** An interim (1xx, not 101) head. */
  onInfo(status: number, fields: string[]): void;
  /** A body chunk; false pauses the stream until `resume()`. */
  onData(chunk: Buffer): boolean;
  onTrailers(fields: string[]): void;
  /** The response ended (END_STREAM), after every chunk and the trailers. */
  onEnd(): void;
  /** The stream ended without a complete response: RST_STREAM from the peer (its code), GOAWAY past it (REFUSED_STREAM), or the connection lost. */
  onReset(code: number): void;
  /** The request body may be written again after `write` returned false. */
  onDrain(): void;
  /** No frame either way for the session's idle time. */
  onIdle(): void;
}

/** What the session reports to its pool. */
export interface SessionOwner {
  /** The peer's first SETTINGS arrived: streams may start. */
  onReady(): void;
  /** The peer sent GOAWAY: no new streams. */
  onGoaway(): void;
  /** The connection is gone (after every stream got onReset); `err` when it failed. */
  onClose(err: Error | undefined): void;
}

const GONE: StreamOwner = {
  onHead: () => true, onInfo: () => undefined, onData: () => true, onTrailers: () => undefined,
  onEnd: () => undefined, onReset: () => undefined, onDrain: () => undefined, onIdle: () => undefined,
};

export class WireStream {
  readonly id: number;
  readonly session: WireSession;
  owner: StreamOwner;
  /** Peer's window for what we send on this stream. */
  sendWindow: number;
  /** Our window for what the peer sends; bytes taken by the owner but not yet credited back. */
  recvWindow = STREAM_WINDOW;
  unacked = 0;
  gotHead = false;
  remoteEnded = false;
  localEnded = false;
  closed = false;
  paused = false;
  /** While paused: chunks, trailers and the end the owner has not had yet. */
  held: Buffer[] | undefined = undefined;
  heldTrailers: string[] | undefined = undefined;
  heldEnd = false;
  /** Request body bytes waiting for window, and whether END_STREAM goes with the last. */
  out: Buffer[] | undefined = undefined;
  outEnd = false;
  /** The session epoch of the last frame either way. */
  seen: number;
  /** The response's Content-Length (-1: none) and the body bytes received: a body longer or shorter than it declared is a reset, never passed on (an HTTP/1.1 client would read the surplus as the next response). */
  expected = -1;
  received = 0;
  /** A HEAD request: its response declares a length but carries no body. */
  noBody = false;

  constructor(session: WireSession, id: number, owner: StreamOwner) {
    this.session = session; this.id = id; this.owner = owner;
    this.sendWindow = session.peerWindow;
    this.seen = session.epoch;
  }

  /** Send a body chunk; false when it (or an earlier one) waits for window or the socket: wait for onDrain. */
  write(chunk: Buffer): boolean { return this.send(chunk, false); }

  /** End the request body, with a last chunk if given. */
  end(chunk?: Buffer): void { this.send(chunk ?? EMPTY, true); }

  private send(chunk: Buffer, end: boolean): boolean {
    if (this.localEnded || this.closed) return false;
    const ses = this.session;
    if (chunk.length === 0 && !end) return !ses.busy();
    this.seen = ses.epoch;
    if (this.out !== undefined) { this.out.push(chunk); this.outEnd = end; return false; }
    const rest = ses.sendData(this, chunk, end);
    if (rest !== undefined) { this.out = [rest]; this.outEnd = end; ses.blocked.push(this); return false; }
    if (end) { this.localEnded = true; this.maybeDone(); }
    return !ses.busy();
  }

  /** Try the queued body again (window grew). True once all of it went out. */
  flushOut(): boolean {
    const q = this.out;
    if (q === undefined) return true;
    while (q.length) {
      const last = q.length === 1;
      const rest = this.session.sendData(this, q[0]!, last && this.outEnd);
      if (rest !== undefined) { q[0] = rest; return false; }
      q.shift();
    }
    this.out = undefined;
    if (this.outEnd) { this.localEnded = true; this.maybeDone(); }
    return true;
  }

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) {
      for (let i = 0; i < held.length; i++) {
        this.take(held[i]!);
        if (this.owner === GONE) return;
        if (this.paused) { if (i + 1 < held.length) this.held = held.slice(i + 1); return; }
      }
    }
    if (this.heldTrailers !== undefined) { const t = this.heldTrailers; this.heldTrailers = undefined; this.owner.onTrailers(t); }
    if (this.heldEnd) { this.heldEnd = false; this.owner.onEnd(); }
  }

  /** Cancel the stream (RST_STREAM to the peer); the owner hears nothing more. */
  cancel(code: number = CANCEL): void {
    this.owner = GONE;
    if (this.closed) return;
    this.closed = true;
    this.out = this.held = undefined;
    if (!(this.remoteEnded && this.localEnded)) this.session.rst(this.id, code);
    this.session.forget(this);
  }

  /** The owner is done with the stream but it may still finish its body: calls go nowhere from now on. */
  detach(): void { this.owner = GONE; }

  /** A DATA payload arrived for this stream. */
  data(chunk: Buffer): void {
    if (this.held !== undefined || this.paused) { (this.held ??= []).push(chunk); return; }
    this.take(chunk);
  }

  /** Give a chunk to the owner and credit it back to the peer. */
  private take(chunk: Buffer): void {
    if (!this.owner.onData(chunk)) this.paused = true;
    this.credit(chunk.length);
  }

  credit(n: number): void {
    this.unacked += n;
    if (this.unacked >= STREAM_WINDOW / 2 && !this.remoteEnded && !this.closed) {
      this.recvWindow += this.unacked;
      this.session.windowUpdate(this.id, this.unacked);
      this.unacked = 0;
    }
  }

  /** A complete header block for this stream. */
  headers(f: string[], end: boolean): void {
    if (!this.gotHead) {
      if (f[0] !== ':status') { this.session.resetStream(this, PROTOCOL_ERROR); return; }
      const status = Number(f[1]);
      if (!(status >= 100 && status <= 999) || f[1]!.length !== 3) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
      const fields = plain(f);
      if (fields === undefined) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
      if (status < 200) {
        if (end) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
        if (status !== 101) this.owner.onInfo(status, fields);
        return;
      }
      const cl = declaredLength(fields);
      if (cl === -2) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
      this.expected = this.noBody || status === 204 || status === 304 ? -1 : cl;
      this.gotHead = true;
      if (!this.owner.onHead(status, fields)) this.paused = true;
      if (end) this.remoteEnd();
      return;
    }
    const trailers = end ? plain(f) : undefined;
    if (trailers === undefined) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
    if (this.held !== undefined || this.paused) this.heldTrailers = trailers;
    else this.owner.onTrailers(trailers);
    this.remoteEnd();
  }

  remoteEnd(): void {
    if (this.closed) return;
    if (this.expected >= 0 && this.received !== this.expected) { this.session.resetStream(this, PROTOCOL_ERROR); return; }
    this.remoteEnded = true;
    if (this.held !== undefined || this.paused) this.heldEnd = true;
    else this.owner.onEnd();
    this.maybeDone();
  }

  private maybeDone(): void {
    if (this.remoteEnded && this.localEnded && !this.closed) { this.closed = true; this.session.forget(this); }
  }

  /** Closed by the peer or the connection: the owner learns why, once. */
  lost(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.out = this.held = undefined;
    const o = this.owner;
    this.owner = GONE;
    o.onReset(code);
  }
}

/** A response's Content-Length: -1 when absent, -2 when malformed or repeated with another value. */
function declaredLength(f: string[]): number {
  let n = -1;
  for (let i = 0; i < f.length; i += 2) {
    if (f[i] !== 'content-length') continue;
    const v = f[i + 1]!;
    if (!/^\d{1,15}$/.test(v)) return -2;
    const m = Number(v);
    if (n !== -1 && m !== n) return -2;
    n = m;
  }
  return n;
}

/** Fields after the pseudo-headers; undefined when a pseudo-header comes after a regular field or is not :status. */
function plain(f: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < f.length; i += 2) {
    const n = f[i]!;
    if (n.charCodeAt(0) === 58) { if (i !== 0 || n !== ':status') return undefined; continue; }
    out.push(n, f[i + 1]!);
  }
  return out;
}

export interface WireSessionOptions {
  /** No frame either way on a stream for this long: onIdle (ms). */
  idleMs: number;
  /** Largest response header list we take (bytes, RFC 7541 sizes). */
  maxHeaderListSize?: number;
}

export class WireSession extends H2Connection {
  private readonly owner: SessionOwner;
  private readonly streams = new Map<number, WireStream>();
  private readonly decoder: HpackDecoder;
  private nextId = 1;
  /** Peer settings. */
  remoteMaxStreams = 100;
  ready = false;
  goneAway = false;
  closing = false;
  destroyed = false;
  private err: Error | undefined = undefined;
  /** Streams with body bytes waiting for window. */
  blocked: WireStream[] = [];
  epoch = 0;
  private readonly sweep: NodeJS.Timeout;
  private closeCb: (() => void) | undefined = undefined;
  private ending = false;

  constructor(socket: Socket, owner: SessionOwner, opts: WireSessionOptions) {
    const maxList = opts.maxHeaderListSize ?? 65_536;
    super(socket, maxList * 2, 128);
    this.owner = owner;
    this.decoder = new HpackDecoder(4096, maxList);
    const settings = frameHead(18, SETTINGS, 0, 0);
    settings.writeUInt16BE(2, 9); settings.writeUInt32BE(0, 11); // ENABLE_PUSH 0
    settings.writeUInt16BE(4, 15); settings.writeUInt32BE(STREAM_WINDOW, 17); // INITIAL_WINDOW_SIZE
    settings.writeUInt16BE(6, 21); settings.writeUInt32BE(maxList, 23); // MAX_HEADER_LIST_SIZE
    const wu = frameHead(4, WINDOW_UPDATE, 0, 0);
    wu.writeUInt32BE(CONN_WINDOW - 65_535, 9);
    this.queue(Buffer.concat([PREFACE, settings, wu]));
    socket.on('data', (chunk: Buffer) => { this.readFrames(chunk); });
    socket.on('drain', () => { this.drained(); });
    socket.on('error', (e: Error) => { this.err ??= e; });
    socket.on('close', () => { this.closed(); });
    const period = Math.max(25, Math.floor(opts.idleMs / 4));
    this.sweep = setInterval(sweepSession, period, this);
    this.sweep.unref();
  }

  protected get live(): boolean { return !this.destroyed; }

  /** Open streams right now. */
  get active(): number { return this.streams.size; }

  /** True while new streams may start here. */
  get open(): boolean { return this.ready && !this.goneAway && !this.closing && !this.destroyed && this.nextId <= MAX_STREAM_ID; }

  /** The socket holds more than it should: writers wait for drain. */
  busy(): boolean { return this.socket.writableLength > 1024 * 1024; }

  /** Start a stream with a header block; `end` when there is no body. Throws when the session takes no stream. */
  request(fields: string[], end: boolean, owner: StreamOwner): WireStream {
    if (!this.open) throw Object.assign(new Error('upstream HTTP/2 session takes no new stream'), { code: 'UND_ERR_SOCKET' });
    const id = this.nextId;
    this.nextId += 2;
    const s = new WireStream(this, id, owner);
    s.noBody = fields[1] === 'HEAD';
    this.streams.set(id, s);
    this.headerFrames(id, fields, end);
    if (end) s.localEnded = true;
    return s;
  }

  /** Reset a stream for the peer's fault: RST_STREAM, and the owner hears it as a reset. */
  resetStream(s: WireStream, code: number): void {
    if (s.closed) return;
    this.rst(s.id, code);
    this.forget(s);
    s.lost(code);
  }

  /** A stream is over: drop it, and finish a closing session once none is left. */
  forget(s: WireStream): void {
    this.streams.delete(s.id);
    if (this.streams.size === 0 && (this.closing || this.goneAway) && !this.destroyed) this.end();
  }

  private drained(): void {
    // Streams that were told to wait for the socket (write returned false) go on.
    for (const s of this.streams.values()) if (s.out === undefined && !s.localEnded) s.owner.onDrain();
  }

  /** The peer's windows grew: send what waited, and tell writers that caught up. */
  protected unblock(): void {
    if (this.blocked.length === 0) return;
    const waiting = this.blocked;
    this.blocked = [];
    for (const s of waiting) {
      if (s.closed) continue;
      if (s.flushOut()) s.owner.onDrain();
      else this.blocked.push(s);
    }
  }

  /** Graceful close: GOAWAY now, the socket once the open streams are done. */
  close(cb?: () => void): void {
    if (cb !== undefined) { if (this.destroyed) { cb(); return; } this.closeCb = cb; }
    if (this.closing || this.destroyed) return;
    this.closing = true;
    this.goaway(0, NO_ERROR); // we take no stream from the peer
    if (this.streams.size === 0) this.end();
  }

  private end(): void {
    if (this.ending) return;
    this.ending = true;
    this.flush();
    this.socket.end();
    // A peer that never closes its side: the socket goes after a grace period.
    setTimeout(() => { this.socket.destroy(); }, 1000).unref();
  }

  destroy(err?: Error): void {
    if (this.destroyed) return;
    if (err !== undefined) this.err ??= err;
    this.flush();
    this.destroyed = true;
    this.socket.destroy();
  }

  /** The peer broke the protocol: GOAWAY with the code, then close. */
  protected fail(code: number, why: string): void {
    if (this.destroyed) return;
    this.err ??= Object.assign(new Error(`upstream HTTP/2 error: ${why}`), { code: 'UND_ERR_SOCKET' });
    this.goaway(0, code);
    this.flush();
    this.destroyed = true;
    // The GOAWAY goes out before the socket does (destroy would drop it).
    this.socket.end();
    setTimeout(() => { this.socket.destroy(); }, 1000).unref();
  }

  private closed(): void {
    this.destroyed = true;
    clearInterval(this.sweep);
    const lost = [...this.streams.values()];
    this.streams.clear();
    this.blocked = [];
    for (const s of lost) s.lost(CANCEL);
    this.owner.onClose(this.err);
    const cb = this.closeCb;
    this.closeCb = undefined;
    cb?.();
  }

  /**
   * A peer that sends PINGs or SETTINGS and does not read our acknowledgements would grow our
   * write buffer without bound: past 8 MiB unsent, the connection is closed (ENHANCE_YOUR_CALM).
   */
  private flooded(): boolean {
    if (!this.overUnsent()) return false;
    this.fail(ENHANCE_YOUR_CALM, 'control frame flood');
    return true;
  }

  /** Every quarter of the idle time: streams without a frame for four quarters are idle. */
  tick(): void {
    const e = ++this.epoch;
    for (const s of this.streams.values()) {
      if (e - s.seen < 4) continue;
      s.seen = e;
      // A stream whose owner is gone (its response is over) and whose body stalled: let it go.
      if (s.owner === GONE) s.cancel();
      else s.owner.onIdle();
    }
  }

  protected frame(type: number, flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    switch (type) {
      case DATA: this.dataFrame(flags, id, buf, p0, p1); return;
      case HEADERS: this.headersFrame(flags, id, buf, p0, p1); return;
      case CONTINUATION: this.continuationFrame(flags, id, buf, p0, p1); return;
      case RST_STREAM: {
        if (id === 0 || p1 - p0 !== 4) { this.fail(id === 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'bad RST_STREAM'); return; }
        const s = this.streams.get(id);
        if (s === undefined) { if (id >= this.nextId) this.fail(PROTOCOL_ERROR, 'RST_STREAM on an idle stream'); return; }
        this.streams.delete(id);
        s.lost(buf.readUInt32BE(p0));
        if (this.streams.size === 0 && (this.closing || this.goneAway)) this.end();
        return;
      }
      case SETTINGS: this.onSettings(flags, id, buf, p0, p1); return;
      case PING: {
        if (id !== 0 || p1 - p0 !== 8) { this.fail(id !== 0 ? PROTOCOL_ERROR : FRAME_SIZE_ERROR, 'bad PING'); return; }
        if ((flags & ACK) === 0) {
          if (this.flooded()) return;
          const b = frameHead(8, PING, ACK, 0); buf.copy(b, 9, p0, p1); this.queue(b);
        }
        return;
      }
      case GOAWAY: {
        if (id !== 0 || p1 - p0 < 8) { this.fail(PROTOCOL_ERROR, 'bad GOAWAY'); return; }
        const last = buf.readUInt32BE(p0) & 0x7fffffff;
        this.goneAway = true;
        // Streams past the last one the peer will process: never seen there, safe to send again.
        for (const s of [...this.streams.values()]) if (s.id > last) { this.streams.delete(s.id); s.lost(REFUSED_STREAM); }
        this.owner.onGoaway();
        if (this.streams.size === 0 && !this.destroyed) this.end();
        return;
      }
      case WINDOW_UPDATE: this.windowUpdateFrame(id, buf, p0, p1); return;
      case PUSH_PROMISE: this.fail(PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled'); return;
      case PRIORITY:
        if (id === 0) this.fail(PROTOCOL_ERROR, 'PRIORITY on stream 0');
        return;
      default: return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  protected streamData(id: number, buf: Buffer, p0: number, p1: number, pad: number, len: number, end: boolean): void {
    const s = this.streams.get(id);
    if (s === undefined) { if (id >= this.nextId) this.fail(PROTOCOL_ERROR, 'DATA on an idle stream'); return; }
    if (!s.gotHead || s.remoteEnded) { this.resetStream(s, s.remoteEnded ? STREAM_CLOSED : PROTOCOL_ERROR); return; }
    s.recvWindow -= len;
    if (s.recvWindow < 0) { this.resetStream(s, FLOW_CONTROL_ERROR); return; }
    s.seen = this.epoch;
    s.received += p1 - p0;
    if (s.expected >= 0 && s.received > s.expected) { this.resetStream(s, PROTOCOL_ERROR); return; }
    if (pad > 0) s.credit(pad);
    if (p1 > p0) s.data(buf.subarray(p0, p1));
    if (end && !s.closed) s.remoteEnd();
  }

  protected streamWindow(id: number, n: number): void {
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (n === 0) { this.resetStream(s, PROTOCOL_ERROR); return; }
    s.sendWindow += n;
    if (s.sendWindow > MAX_WINDOW) this.resetStream(s, FLOW_CONTROL_ERROR);
  }

  /** A whole header block: decoded even for a stream we dropped, so the HPACK tables stay in step. */
  protected block(id: number, flags: number, block: Buffer): void {
    const f: string[] = [];
    try { this.decoder.decode(block, f); } catch (e) { this.fail(COMPRESSION_ERROR, (e as Error).message); return; }
    const s = this.streams.get(id);
    if (s === undefined) { if (id >= this.nextId || (id & 1) === 0) this.fail(PROTOCOL_ERROR, 'HEADERS on an idle stream'); return; }
    if (s.remoteEnded) { this.resetStream(s, STREAM_CLOSED); return; }
    s.seen = this.epoch;
    s.headers(f, (flags & END_STREAM) !== 0);
  }

  private onSettings(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id !== 0) { this.fail(PROTOCOL_ERROR, 'SETTINGS on a stream'); return; }
    if ((flags & ACK) !== 0) { if (p1 !== p0) this.fail(FRAME_SIZE_ERROR, 'SETTINGS ack with a payload'); return; }
    if ((p1 - p0) % 6 !== 0) { this.fail(FRAME_SIZE_ERROR, 'bad SETTINGS length'); return; }
    if (this.flooded()) return;
    if (!this.applySettings(buf, p0, p1, this.streams.values(), (k, v) => { if (k === 3) this.remoteMaxStreams = v; })) return;
    this.queue(frameHead(0, SETTINGS, ACK, 0));
    this.unblock();
    if (!this.ready) { this.ready = true; this.owner.onReady(); }
  }
}

function sweepSession(s: WireSession): void { s.tick(); }
