/**
 * The HTTP/2 front behind both the TLS listener (ALPN h2) and the plain listener (h2c with
 * prior knowledge): a ServerSession (h2-wire.ts, Gatehouse's own HTTP/2 server, decision
 * 0015) per connection, and the same request handler as HTTP/1.1 for every stream, through
 * the HTTP/1.1-shaped request/response of h2-exchange.ts.
 *
 * Limits against the known HTTP/2 attacks (docs/http2.md), each closing only the offending
 * connection, each counted in gatehouse_http2_connections_closed_total{reason}:
 * - concurrent streams: SETTINGS_MAX_CONCURRENT_STREAMS; streams past it are refused
 *   (RST_STREAM REFUSED_STREAM) and counted in the reset bucket below, as are malformed
 *   requests the session resets;
 * - header list size: SETTINGS_MAX_HEADER_LIST_SIZE; a larger header block is answered 431
 *   on that stream by the session (the HTTP/2 form of the HTTP/1.1 answer), the connection lives;
 * - rapid reset (CVE-2023-44487): streams the client resets in flight, per connection, in a
 *   token bucket; past it, GOAWAY ENHANCE_YOUR_CALM;
 * - CONTINUATION floods, protocol errors, and a client that does not read what it makes us
 *   send: closed by the session itself (h2-wire.ts), reported through onFailed;
 * - SETTINGS / PING floods: a per-connection token bucket (onControl);
 * - window exhaustion / slow readers: a per-stream idle timeout resets a stream that moves
 *   no frame either way (armed once the stream outlives a sweep: OpenStreams), and a
 *   per-connection idle timeout closes a silent connection (a sweep over the connections'
 *   byte counts). Neither is a timer refreshed on every frame of every stream.
 *
 * CONNECT: SETTINGS_ENABLE_CONNECT_PROTOCOL is sent, and an extended CONNECT with
 * `:protocol websocket` (RFC 8441) goes to the WebSocket front (`onWebSocket`), which runs
 * it through the pipeline like an HTTP/1.1 upgrade (h2-exchange.ts presents it as one). Any
 * other CONNECT is a forward-proxy tunnel, and the gateway is none: 405 problem+json on that
 * stream (as on HTTP/1.1, http/client-error.ts), the connection lives.
 */
import { EventEmitter } from 'node:events';
import type { Counter } from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { H2Request, H2Response, RAW_SOCKET, type OpenLink } from './h2-exchange.ts';
import { CANCEL, ENHANCE_YOUR_CALM, ServerSession, type ServerSessionOwner, type ServerStream } from './h2-wire.ts';
import { problemBody } from '../errors.ts';
import { requestId } from '../http/ids.ts';

export interface H2Limits {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
  /** Resets per second allowed on average; bursts of 10x. */
  maxResetsPerSecond: number;
  streamIdleMs: number;
  sessionIdleMs: number;
  /** PING / SETTINGS frames per second allowed on average (bursts of 10x). */
  maxControlPerSecond: number;
}

export const H2_DEFAULTS = {
  maxConcurrentStreams: 100,
  maxResetsPerSecond: 100,
  streamIdle: '30s',
  sessionIdle: '2m',
  maxControlPerSecond: 50,
} as const;

/** A token bucket per connection: `rate` per second, `burst` at most. */
class Bucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;
  constructor(rate: number, burst: number) { this.rate = rate; this.burst = burst; this.tokens = burst; this.last = Date.now(); }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

interface Guard {
  resets: Bucket;
  control: Bucket;
  closed: boolean;
  /** Bytes read + written on the connection at the last sweep, and since when unchanged. */
  seen: number;
  quietSince: number;
}
const GUARD = Symbol('gatehouse.h2guard');
const FRONT = Symbol('gatehouse.h2front');
type Guarded = ServerSession & { [GUARD]?: Guard; [RAW_SOCKET]?: Socket; [FRONT]?: H2Front };

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export class H2Front implements ServerSessionOwner {
  /** Takes the connections that speak HTTP/2 (`emit('connection', socket)`); emits 'session'. */
  readonly server = new EventEmitter();
  readonly sessions = new Set<ServerSession>();
  private readonly limits: H2Limits;
  private readonly closedBy: Counter<'reason'>;
  /** Streams the node reset itself, by reason (idle). */
  readonly streamResets: Counter<'reason'>;
  /** Takes RFC 8441 WebSocket streams (the WebSocket front); without it they get 405. */
  onWebSocket: Handler | undefined = undefined;
  private readonly handler: Handler;
  /** Streams in flight; their idle timers are armed only once they outlive a sweep. */
  readonly open: OpenStreams;
  /** The sweep of sessionIdleTimeout (sweepIdle), running while there are connections. */
  private idleSweep: NodeJS.Timeout | undefined = undefined;

  constructor(handler: Handler, limits: H2Limits, closedBy: Counter<'reason'>, streamResets: Counter<'reason'>) {
    this.limits = limits;
    this.closedBy = closedBy;
    this.streamResets = streamResets;
    this.open = new OpenStreams(limits.streamIdleMs);
    this.handler = handler;
    this.server.on('connection', (sock: Socket) => { this.accept(sock); });
  }

  /** A connection that speaks HTTP/2 (h2c preface seen, or ALPN h2): its session. */
  private accept(sock: Socket): void {
    const l = this.limits;
    sock.setNoDelay(true);
    const s = new ServerSession(sock, { maxConcurrentStreams: l.maxConcurrentStreams, maxHeaderListSize: l.maxHeaderListSize }, this) as Guarded;
    s[GUARD] = { resets: new Bucket(l.maxResetsPerSecond, l.maxResetsPerSecond * 10), control: new Bucket(l.maxControlPerSecond, l.maxControlPerSecond * 10), closed: false, seen: -1, quietSince: Date.now() };
    s[RAW_SOCKET] = sock;
    s[FRONT] = this;
    this.sessions.add(s);
    if (this.idleSweep === undefined) {
      this.idleSweep = setInterval(() => { this.sweepIdle(); }, Math.max(10, l.sessionIdleMs / 4));
      this.idleSweep.unref();
    }
    s.onClose(() => { this.sessions.delete(s); });
    this.server.emit('session', s);
  }

  // ServerSessionOwner: what a session reports.
  onControl(s: ServerSession): void {
    const g = (s as Guarded)[GUARD];
    if (g !== undefined && !g.control.take()) this.closed(s, 'control_flood');
  }

  onRefused(s: ServerSession): void {
    const g = (s as Guarded)[GUARD];
    if (g !== undefined && !g.resets.take()) this.closed(s, 'rapid_reset');
  }

  onFailed(s: ServerSession, reason: string): void {
    const g = (s as Guarded)[GUARD];
    if (g !== undefined) g.closed = true;
    this.closedBy.labels(reason).inc();
  }

  /**
   * A new stream: limits first, then the one request handler with the HTTP/1.1-shaped
   * request/response of h2-exchange.ts. CONNECT and Expect are decided here, as Node's
   * HTTP/1.1 server decides them before its 'request' event.
   */
  onStream(stream: ServerStream, headers: Record<string, string | string[]>, raw: string[]): void {
    stream.on('aborted', onStreamAborted);
    // A stream error (a reset, a broken connection) reaches the pipeline as 'close'.
    stream.on('error', ignore);
    const req = new H2Request(stream, headers, raw);
    const res = new H2Response(stream, headers.te as string | undefined);
    this.open.add(res);
    (stream as Listed)[LISTED] = res;
    stream.on('close', onStreamClosed);
    if (headers[':method'] === 'CONNECT') { this.onConnect(req, res); return; }
    const expect = headers.expect as string | undefined;
    // 100-continue goes to the pipeline, which sends it once the policies have passed
    // (pipeline/expect.ts); any other expectation is one the gateway cannot meet.
    if (expect !== undefined && expect.toLowerCase() !== '100-continue') { res.writeHead(417); res.end(); return; }
    this.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }

  /**
   * CONNECT on a stream. `:protocol websocket` (RFC 8441) goes to the WebSocket front; any
   * other CONNECT is a forward-proxy tunnel: 405 problem+json on that stream.
   */
  private onConnect(req: H2Request, res: H2Response): void {
    const ws = req.upgrade ? this.onWebSocket : undefined;
    if (ws !== undefined) { ws(req as unknown as IncomingMessage, res as unknown as ServerResponse); return; }
    const body = problemBody('GW_METHOD_NOT_ALLOWED', requestId(req.headers['x-request-id']), 'CONNECT is not supported');
    res.writeHead(405, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /**
   * http2.sessionIdleTimeout: a connection whose byte counts have not moved for that long (no
   * frame either way, PINGs included) is destroyed. Checked every quarter of the timeout, so
   * it is closed within 1.25x.
   */
  private sweepIdle(): void {
    const now = Date.now();
    for (const s of this.sessions) {
      const g = (s as Guarded)[GUARD];
      if (g === undefined || s.destroyed) continue;
      const sock = s.socket;
      const seen = sock.bytesRead + sock.bytesWritten;
      if (seen !== g.seen) { g.seen = seen; g.quietSince = now; continue; }
      if (now - g.quietSince >= this.limits.sessionIdleMs) s.destroy();
    }
    if (this.sessions.size === 0) { clearInterval(this.idleSweep); this.idleSweep = undefined; }
  }

  /** Close a flooding connection: GOAWAY ENHANCE_YOUR_CALM, then the socket. Counted once. */
  closed(s: ServerSession, reason: string): void {
    const g = (s as Guarded)[GUARD];
    if (g === undefined || g.closed) return;
    s.fail(ENHANCE_YOUR_CALM, reason);
  }

  /** Drain: GOAWAY to every connection (in-flight streams finish); destroy() cuts what is left. */
  close(): void { for (const s of this.sessions) s.close(); }
  destroy(): void {
    this.open.stop();
    clearInterval(this.idleSweep);
    this.idleSweep = undefined;
    for (const s of this.sessions) s.destroy();
  }
}

/**
 * The streams not yet given an idle timer, linked through their responses (no set: a Set of
 * streams made them survive scavenges), and the sweep that gives a stream its timer once it
 * has outlived one sweep period (a quarter of streamIdleTimeout) and takes it off the list.
 * Node refreshes a stream's timer on every frame, a cost most streams, over within
 * milliseconds, need not pay. A stuck stream is reset within 1.5x the timeout.
 */
class OpenStreams {
  private readonly head: OpenLink = { nextOpen: undefined };
  private generation = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly idleMs: number;

  constructor(idleMs: number) { this.idleMs = idleMs; }

  add(r: H2Response): void {
    const n = this.head.nextOpen;
    r.born = this.generation;
    r.prevOpen = this.head;
    r.nextOpen = n;
    if (n !== undefined) n.prevOpen = r;
    this.head.nextOpen = r;
    if (this.timer === undefined) {
      this.timer = setInterval(() => { this.sweep(); }, Math.max(10, this.idleMs / 4));
      this.timer.unref();
    }
  }

  private sweep(): void {
    this.generation++;
    if (this.head.nextOpen === undefined) { this.stop(); return; }
    for (let r: H2Response | undefined = this.head.nextOpen, next: H2Response | undefined; r !== undefined; r = next) {
      next = r.nextOpen;
      if (this.generation - r.born < 2) continue;
      unlinkOpen(r);
      if (!r.stream.destroyed) r.stream.setTimeout(this.idleMs, onStreamIdle);
    }
  }

  stop(): void { clearInterval(this.timer); this.timer = undefined; }
}

/** Off the OpenStreams list (given its timer, or closed); a no-op when not on it. */
function unlinkOpen(r: H2Response): void {
  const p = r.prevOpen;
  if (p === undefined) return;
  const n = r.nextOpen;
  p.nextOpen = n;
  if (n !== undefined) n.prevOpen = p;
  r.prevOpen = undefined;
  r.nextOpen = undefined;
}

const LISTED = Symbol('gatehouse.h2listed');
type Listed = ServerStream & { [LISTED]?: H2Response };

function onStreamClosed(this: Listed): void {
  const r = this[LISTED];
  if (r === undefined) return;
  this[LISTED] = undefined;
  unlinkOpen(r);
}

function onStreamAborted(this: ServerStream): void {
  const s = this.session as Guarded;
  const g = s[GUARD];
  if (g !== undefined && !g.resets.take()) s[FRONT]?.closed(s, 'rapid_reset');
}

function ignore(): void { /* see onStream */ }

function onStreamIdle(this: ServerStream): void {
  (this.session as Guarded)[FRONT]?.streamResets.labels('idle').inc();
  this.close(CANCEL);
}
