/**
 * HTTP/2 to an upstream (targets `h2c://` cleartext with prior knowledge, `h2://` over TLS):
 * multiplexed sessions per target, behind the same `dispatch(request, handler)` as the
 * HTTP/1.1 pool (h1/pool.ts), so the proxy handler, balancing, retries, breakers and
 * timeouts work unchanged whichever protocol carries a request. The sessions are the
 * gateway's own HTTP/2 client (wire/session.ts, decision 0013), not Node's `http2.connect`.
 *
 * - Sessions: one at first; another opens (up to `sessions`) when every open one is at its
 *   stream cap (as Envoy), or carries `streamsPerSession` streams if set (for a server that
 *   serves each connection slowly), one connect at a time. A stream goes to the least-loaded
 *   session. An extra session without a stream for `idleTimeout` is closed; one stays.
 * - Stream cap: at most `maxStreams` streams at once per session (and never more than the
 *   server's SETTINGS_MAX_CONCURRENT_STREAMS); past it on every session (and no session left
 *   to open) requests wait in a FIFO queue bounded as the
 *   HTTP/1.1 pool's (decision 0009): `maxPending` waiting at most (one more: GH_QUEUE_FULL),
 *   each for `maxWait` at most (GH_QUEUE_TIMEOUT), both 503 GW_UPSTREAM_OVERLOADED. The
 *   wait uses the exchange's one timer (its head timer once it has a stream), so the bound
 *   costs no timer of its own; the head timeout starts when the stream does.
 * - Reconnect with backoff: a session that failed to connect is not tried again before the
 *   backoff (100 ms doubling to 5 s, reset by a successful connect); requests arriving
 *   meanwhile fail at once as connect errors (retries move them to another target).
 * - GOAWAY: the session takes no new stream; streams the server did not process (above its
 *   last stream id, or refused with REFUSED_STREAM) are sent again once, on another session
 *   or a new one, when the body can be replayed.
 * - Trailers reach `handler.onTrailers` before `onComplete` (gRPC's grpc-status).
 * - Interim heads 102 and 103 (Early Hints) reach `handler.onInfo`, as from the HTTP/1.1
 *   pool; 100 is the gateway's own business (pipeline/expect.ts) and is not passed on.
 * - A `grpc-timeout` request header bounds the whole call: past it the upstream stream is
 *   cancelled and the client gets grpc-status 4 (DEADLINE_EXCEEDED).
 */
import tls from 'node:tls';
import net from 'node:net';
import type { Readable } from 'node:stream';
import type { H1Control, H1Handler, H1Request } from '../h1/pool.ts';
import { isPath, isToken, isValue } from '../h1/connection.ts';
import { UpstreamError, headersTimeout, connectTimeout, bodyTimeout, queueFull, queueTimeout } from '../h1/errors.ts';
import { CANCEL, REFUSED_STREAM, WireSession, type SessionOwner, type StreamOwner, type WireStream } from './wire/session.ts';

export interface H2PoolOptions {
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  /** Streams at once on one session (capped by the server's own limit). */
  maxStreams?: number;
  /** Most sessions to the target (default 4). */
  sessions?: number;
  /** Another session opens when every open one carries this many streams (default: when every one is at its stream cap). */
  streamsPerSession?: number;
  /** An extra session without a stream for this long is closed (ms, default 30 s). */
  idleTimeout?: number;
  /** Requests that may wait for a stream slot (default 1024); one more fails with GH_QUEUE_FULL. */
  maxPending?: number;
  /** How long a request may wait for a stream slot (ms, default headersTimeout); then GH_QUEUE_TIMEOUT. */
  maxWait?: number;
  /** h2:// targets: extra trusted CAs (PEM), and the name checked in the certificate. */
  ca?: string | Buffer | undefined;
  servername?: string | undefined;
}

/** The handler may also take trailers (gRPC). */
export interface H2Handler extends H1Handler { onTrailers?(trailers: string[]): void }

const HAS_UPPER = /[A-Z]/;
const ILLEGAL = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te']);

/** One call: the handler's control, and the owner of its upstream stream. */
class H2Exchange implements H1Control, StreamOwner {
  readonly pool: H2Pool;
  readonly req: H1Request;
  readonly handler: H2Handler;
  stream: WireStream | undefined = undefined;
  /** The session carrying the stream; set while the exchange holds a stream slot. */
  session: H2Session | undefined = undefined;
  done = false;
  /** Sent again once after the server refused or never processed it. */
  resent = false;
  gotHead = false;
  timer: NodeJS.Timeout | undefined = undefined;
  deadline: NodeJS.Timeout | undefined = undefined;
  /** A streamed request body being sent (paused while the stream waits for window): its listeners on the client's stream, until the body ended or the call failed. */
  pumping: Pump | undefined = undefined;

  constructor(pool: H2Pool, req: H1Request, handler: H2Handler) { this.pool = pool; this.req = req; this.handler = handler; }

  abort(err?: Error): void { this.fail(err ?? new UpstreamError('UND_ERR_ABORTED', 'aborted')); }

  resume(): void { if (!this.done) this.stream?.resume(); }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.clear();
    this.pumping?.detach();
    this.stream?.cancel(CANCEL);
    this.pool.released(this);
    this.handler.onError(err);
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    this.clear();
    this.pool.released(this);
    this.handler.onComplete();
  }

  clear(): void {
    // The stream may still be sending the body; it reports to nobody from now on.
    this.stream?.detach();
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.timer = undefined;
    this.deadline = undefined;
  }

  // StreamOwner: what the upstream stream reports.
  onHead(status: number, fields: string[]): boolean {
    if (this.done) return true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.gotHead = true;
    return this.handler.onHeaders(status, fields);
  }

  onInfo(status: number, fields: string[]): void {
    // 102 and 103 go to the handler; 100 is the gateway's own business (pipeline/expect.ts).
    if (this.done || this.gotHead || (status !== 102 && status !== 103) || this.handler.onInfo === undefined) return;
    try { this.handler.onInfo(status, fields); } catch { /* an interim response is only a hint */ }
  }

  onData(chunk: Buffer): boolean { return this.done || this.handler.onData(chunk); }

  onTrailers(fields: string[]): void { if (!this.done) this.handler.onTrailers?.(fields); }

  onEnd(): void { this.complete(); }

  onReset(code: number): void { if (!this.done) this.pool.onReset(this, code); }

  onDrain(): void { this.pumping?.src.resume(); }

  onIdle(): void { if (this.gotHead) this.fail(bodyTimeout()); }

  /** Send a streamed body, paused while the upstream stream cannot take more. */
  pump(src: Readable, stream: WireStream): void {
    const p = this.pumping = new Pump(this, src, stream);
    if (src.readableEnded) { p.end(); return; }
    src.on('data', p.data);
    src.on('end', p.end);
    src.on('error', p.error);
    src.on('close', p.close);
  }
}

/**
 * A streamed request body going to its upstream stream. Its listeners leave the client's
 * stream as soon as the body ended or the call finished: a finished HTTP/2 server stream can
 * outlive its request by several scavenges, and whatever its listeners reach (the call, the
 * context, the response) would be kept, and copied, with it.
 */
class Pump {
  readonly x: H2Exchange;
  readonly src: Readable;
  readonly stream: WireStream;
  ended = false;
  constructor(x: H2Exchange, src: Readable, stream: WireStream) { this.x = x; this.src = src; this.stream = stream; }
  private live(): boolean { return this.x.stream === this.stream; }
  detach(): void {
    this.src.off('data', this.data);
    this.src.off('end', this.end);
    this.src.off('error', this.error);
    this.src.off('close', this.close);
    if (this.x.pumping === this) this.x.pumping = undefined;
  }
  readonly data = (chunk: Buffer): void => {
    if (!this.live()) { this.detach(); return; }
    if (!this.stream.write(chunk)) this.src.pause();
  };
  readonly end = (): void => {
    if (this.ended) return;
    this.ended = true;
    this.detach();
    if (this.live()) this.stream.end();
  };
  readonly error = (err: Error): void => { this.detach(); if (this.live()) this.x.fail(err); };
  readonly close = (): void => {
    this.detach();
    // The client went away before its body ended: the call is cut.
    if (!this.ended && this.live()) this.x.fail(new UpstreamError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'request body ended early'));
  };
}

/** One session to the target and the count of streams it carries. */
class H2Session implements SessionOwner {
  readonly pool: H2Pool;
  s!: WireSession;
  connected = false;
  /** GOAWAY received, or closed for idleness: takes no new stream. */
  draining = false;
  active = 0;
  idleSince = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  constructor(pool: H2Pool) { this.pool = pool; }
  get usable(): boolean { return this.connected && !this.draining && this.s.open; }
  onReady(): void { this.pool.ready(this); }
  onGoaway(): void { this.draining = true; this.pool.kick(); }
  onClose(err: Error | undefined): void { this.pool.lost(this, err); }
}

export class H2Pool {
  readonly origin: string;
  readonly hostHeader: string;
  private readonly authority: string;
  private readonly tls: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly opts: H2PoolOptions;
  private readonly sessions: H2Session[] = [];
  private idleSweep: NodeJS.Timeout | undefined = undefined;
  private readonly queue: H2Exchange[] = [];
  /** Requests refused because the wait queue was full / waited past maxWait (metrics read these). */
  queueFull = 0;
  queueTimeouts = 0;
  get pending(): number { return this.queue.length; }
  /** Sessions open or connecting that take new streams (metrics and tests read it). */
  get sessionCount(): number { let n = 0; for (const x of this.sessions) if (!x.draining) n++; return n; }
  /** Sessions opened since the pool started. */
  sessionsOpened = 0;
  private backoff = 0;
  private notBefore = 0;
  closed = false;

  constructor(origin: string, opts: H2PoolOptions) {
    const m = /^(h2c?):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?/.exec(origin);
    if (!m) throw new Error(`not an h2:// or h2c:// origin: ${origin}`);
    this.tls = m[1] === 'h2';
    this.host = m[2]!.replace(/^\[|\]$/g, '');
    this.port = m[3] ? Number(m[3]) : this.tls ? 443 : 80;
    this.origin = `${m[1]}://${m[2]}:${this.port}`;
    this.hostHeader = m[3] ? `${m[2]}:${m[3]}` : m[2]!;
    this.authority = `${this.tls ? 'https' : 'http'}://${m[2]}:${this.port}`;
    this.opts = opts;
  }

  /** The stream cap of one session: ours, never above the server's. */
  private cap(x: H2Session): number {
    const remote = x.s.remoteMaxStreams;
    return Math.max(1, Math.min(this.opts.maxStreams ?? 100, remote));
  }

  /** The usable session with the fewest streams and a free slot. */
  private leastLoaded(): H2Session | undefined {
    let best: H2Session | undefined;
    for (const x of this.sessions) {
      if (!x.usable || x.active >= this.cap(x)) continue;
      if (best === undefined || x.active < best.active) best = x;
    }
    return best;
  }

  /** Open another session when none is connecting, fewer than `sessions` are open, and the best one is busy. */
  private grow(best: H2Session | undefined): void {
    let live = 0;
    for (const x of this.sessions) {
      if (x.draining) continue;
      if (!x.connected) return;
      live++;
    }
    if (live >= (this.opts.sessions ?? 4)) return;
    // Without streamsPerSession only a full set (no best) opens another, as Envoy does.
    if (live > 0 && best !== undefined && best.active < (this.opts.streamsPerSession ?? Infinity)) return;
    this.open();
  }

  /** Send one request. Never throws: failures reach `handler.onError`. */
  dispatch(req: H1Request, handler: H2Handler): boolean {
    const x = new H2Exchange(this, req, handler);
    handler.onConnect(x);
    if (x.done) return true;
    if (this.closed) { x.fail(new UpstreamError('UND_ERR_CLOSED', 'upstream pool closed')); return false; }
    this.schedule(x);
    return true;
  }

  private schedule(x: H2Exchange): void {
    const best = this.leastLoaded();
    this.grow(best);
    if (best !== undefined) { this.start(x, best); return; }
    // Nothing open nor connecting: the reconnect backoff held the connect back.
    if (this.sessionCount === 0) { x.fail(Object.assign(new Error('upstream reconnect backoff'), { code: 'ECONNREFUSED' })); return; }
    this.enqueue(x);
  }

  /** Wait for a stream slot (or the session's connect), within the queue's bounds. */
  private enqueue(x: H2Exchange): void {
    clearTimeout(x.timer);
    x.timer = undefined;
    if (this.queue.length >= (this.opts.maxPending ?? 1024)) {
      this.queueFull++;
      x.fail(queueFull());
      return;
    }
    this.queue.push(x);
    x.timer = setTimeout(onWaitTimeout, this.opts.maxWait ?? this.opts.headersTimeout, x);
  }

  private open(): void {
    if (this.closed || Date.now() < this.notBefore) return;
    const host = this.host;
    const port = this.port;
    // Nagle off: small frames (a gRPC call is a few dozen bytes) must not wait.
    let socket: net.Socket;
    if (this.tls) {
      const t = tls.connect({
        host, port, ALPNProtocols: ['h2'],
        servername: this.opts.servername ?? (net.isIP(host) ? undefined : host),
        ...(this.opts.ca === undefined ? {} : { ca: [...tls.rootCertificates, this.opts.ca.toString()] }),
      } as tls.ConnectionOptions);
      t.once('secureConnect', () => {
        if (t.alpnProtocol !== 'h2') t.destroy(Object.assign(new Error(`upstream did not agree to HTTP/2 (ALPN ${String(t.alpnProtocol)})`), { code: 'UND_ERR_SOCKET' }));
      });
      socket = t;
    } else {
      socket = net.connect({ host, port });
    }
    socket.setNoDelay(true);
    const sess = new H2Session(this);
    sess.s = new WireSession(socket, sess, { idleMs: this.opts.bodyTimeout });
    this.sessions.push(sess);
    this.sessionsOpened++;
    sess.timer = setTimeout(() => { sess.s.destroy(connectTimeout()); }, this.opts.connectTimeout);
    socket.unref();
  }

  /** A session's peer sent its SETTINGS: it takes streams. */
  ready(sess: H2Session): void {
    clearTimeout(sess.timer);
    sess.connected = true;
    sess.idleSince = Date.now();
    this.backoff = 0;
    if (this.sessionCount > 1) this.watchIdle();
    this.drain();
  }

  /** A session went away (GOAWAY): waiting requests go to the others or a new one. */
  kick(): void { this.drain(); }

  /** A session's connection closed (its streams were told first). */
  lost(sess: H2Session, err: Error | undefined): void {
    clearTimeout(sess.timer);
    sess.draining = true;
    const i = this.sessions.indexOf(sess);
    if (i >= 0) this.sessions.splice(i, 1);
    if (!sess.connected) {
      // Never connected: back off before the next try. With no other session left to
      // serve them, the waiting requests fail as connect errors.
      this.backoff = Math.min(5000, this.backoff ? this.backoff * 2 : 100);
      this.notBefore = Date.now() + this.backoff;
      if (this.sessionCount > 0) return;
      const e = err ?? Object.assign(new Error('upstream connect failed'), { code: 'ECONNREFUSED' });
      for (const x of this.queue.splice(0)) x.fail(e);
    } else if (this.queue.length) {
      this.drain();
    }
  }

  private drain(): void {
    while (this.queue.length && !this.closed) {
      const best = this.leastLoaded();
      this.grow(best);
      if (best === undefined) return;
      const x = this.queue.shift()!;
      if (x.done) continue;
      this.start(x, best);
    }
  }

  /** While more than one session is open, close those idle past `idleTimeout` (never the last one). */
  private watchIdle(): void {
    if (this.idleSweep !== undefined) return;
    const idle = this.opts.idleTimeout ?? 30_000;
    this.idleSweep = setInterval(() => {
      const now = Date.now();
      for (let i = this.sessions.length - 1; i >= 0 && this.sessionCount > 1; i--) {
        const x = this.sessions[i]!;
        if (x.usable && x.active === 0 && now - x.idleSince >= idle) { x.draining = true; x.s.close(); }
      }
      if (this.sessionCount <= 1) { clearInterval(this.idleSweep); this.idleSweep = undefined; }
    }, Math.max(50, Math.min(idle / 2, 5000)));
    this.idleSweep.unref();
  }

  /** The response head timeout, from when the stream starts (a queued wait had its own). */
  private armHeadTimer(x: H2Exchange): void {
    clearTimeout(x.timer);
    x.timer = setTimeout(onHeadTimeout, x.req.headersTimeout ?? this.opts.headersTimeout, x);
  }

  /** A queued exchange waited past maxWait. */
  waitedTooLong(x: H2Exchange): void {
    if (x.done) return;
    this.queueTimeouts++;
    x.fail(queueTimeout());
  }

  private start(x: H2Exchange, sess: H2Session): void {
    const r = x.req;
    if (!isToken(r.method) || !isPath(r.path)) { x.fail(new UpstreamError('UND_ERR_INVALID_ARG', 'invalid method or path')); return; }
    const h: string[] = [':method', r.method, ':path', r.path, ':scheme', this.tls ? 'https' : 'http', ':authority', this.hostHeader];
    const flat = r.headers;
    const checked = r.checked ?? 0;
    let grpcTimeout: number | undefined;
    for (let i = 0; i < flat.length; i += 2) {
      let k = flat[i]!;
      const v = flat[i + 1]!;
      if (i >= checked && (!isToken(k) || !isValue(v))) { x.fail(new UpstreamError('UND_ERR_INVALID_ARG', `invalid header ${JSON.stringify(k)}`)); return; }
      // HTTP/2 field names are lower-case (RFC 9113 §8.2.1); a policy's header may not be.
      if (HAS_UPPER.test(k)) k = k.toLowerCase();
      if (k === 'host') { h[7] = v; continue; }
      if (ILLEGAL.has(k)) continue;
      if (k === 'grpc-timeout') grpcTimeout = parseGrpcTimeout(v);
      h.push(k, v);
    }
    // gRPC servers expect it; harmless for others.
    h.push('te', 'trailers');
    const body = r.body;
    let stream: WireStream;
    try {
      stream = sess.s.request(h, body === null, x);
    } catch (err) {
      x.fail(Object.assign(new Error((err as Error).message), { code: 'UND_ERR_SOCKET' }));
      return;
    }
    x.stream = stream;
    x.session = sess;
    sess.active++;
    this.armHeadTimer(x);
    if (grpcTimeout !== undefined) x.deadline = setTimeout(onDeadline, grpcTimeout, x);
    if (body === null) return;
    if (Buffer.isBuffer(body)) { stream.end(body); return; }
    x.pump(body as Readable, stream);
  }

  /** The stream ended without a response: one the server did not process is sent again, else the exchange fails. */
  onReset(x: H2Exchange, code: number): void {
    // Not processed by the server (REFUSED_STREAM, or past its GOAWAY's last stream): safe to send again.
    const unprocessed = !x.gotHead && code === REFUSED_STREAM;
    const replayable = x.req.body === null || Buffer.isBuffer(x.req.body);
    if (unprocessed && replayable && !x.resent && !this.closed) {
      x.resent = true;
      this.detach(x);
      x.stream = undefined;
      this.schedule(x);
      return;
    }
    x.fail(Object.assign(new Error(`upstream stream closed (code ${code})`), { code: x.gotHead ? 'UND_ERR_SOCKET' : 'ECONNRESET' }));
  }

  /** Called when an exchange ends: frees its stream slot. */
  released(x: H2Exchange): void {
    if (this.detach(x)) this.drain();
    else { const i = this.queue.indexOf(x); if (i >= 0) this.queue.splice(i, 1); }
  }

  /** Give back the exchange's stream slot on its session; false when it held none. */
  private detach(x: H2Exchange): boolean {
    const sess = x.session;
    if (sess === undefined) return false;
    x.session = undefined;
    if (--sess.active === 0) sess.idleSince = Date.now();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleSweep);
    this.idleSweep = undefined;
    for (const x of this.queue.splice(0)) x.fail(new UpstreamError('UND_ERR_CLOSED', 'upstream pool closed'));
    await Promise.all(this.sessions.splice(0).map(({ s }) => s.destroyed ? undefined : new Promise<void>((r) => {
      s.close(r);
      setTimeout(() => { s.destroy(); r(); }, 5000).unref();
    })));
  }
}

function onHeadTimeout(x: H2Exchange): void { x.fail(headersTimeout()); }
function onWaitTimeout(x: H2Exchange): void { x.pool.waitedTooLong(x); }

function onDeadline(x: H2Exchange): void {
  if (x.done) return;
  if (!x.gotHead) { x.fail(headersTimeout()); return; }
  // The head went out: end the call the gRPC way, with DEADLINE_EXCEEDED in the trailers.
  x.handler.onTrailers?.(['grpc-status', '4', 'grpc-message', 'Deadline Exceeded']);
  const s = x.stream;
  x.complete(); // detaches the stream (clear) before it is cancelled
  x.stream = undefined;
  s?.cancel(CANCEL);
}

/** grpc-timeout: 1-8 digits and a unit (H M S m u n). */
export function parseGrpcTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H': return n * 3_600_000;
    case 'M': return n * 60_000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return Math.max(1, Math.ceil(n / 1000));
    default: return Math.max(1, Math.ceil(n / 1_000_000));
  }
}
