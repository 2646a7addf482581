/**
 * Gatehouse's HTTP/1.1 upstream client: a keep-alive connection pool per target on Node's
 * native parser (decision 0005). It does what the proxy path needs and nothing else:
 * one request per connection at a time (no pipelining), bodies streamed both ways with
 * backpressure, connect / response-head / body-idle timeouts, the server's Keep-Alive hint
 * honoured, and a request that meets a keep-alive connection the server has just closed is
 * sent again once on a new one when that is safe (idempotent method, replayable body).
 *
 * The handler interface is undici's classic dispatch handler (onConnect, onHeaders, onData,
 * onComplete, onError) with header lists as strings, so the proxy handler reads the same
 * callbacks and the same error codes (errors.ts) whichever client carries the request.
 */
import { performance } from 'node:perf_hooks'; // the global is a getter: one lookup per call
import type { Readable } from 'node:stream';
import { H1Conn } from './connection.ts';
import { queueFull, queueTimeout, UpstreamError } from './errors.ts';

/** What a handler may do to its exchange. Methods of the exchange itself: no closures per request. */
export interface H1Control {
  /** End the exchange with this error (delivered to onError once); no-op once it is over. */
  abort(err?: Error): void;
  /** Continue after onHeaders/onData returned false; no-op for an exchange that is over. */
  resume(): void;
}

export interface H1Handler {
  /** Called once, at dispatch, with the exchange's control. */
  onConnect(control: H1Control): void;
  /** An interim response (102, 103; never 100 or 101), for a handler that passes it on. */
  onInfo?(status: number, headers: string[]): void;
  /** The final response head (1xx are skipped); false pauses reading until `control.resume()`. */
  onHeaders(status: number, headers: string[]): boolean;
  /** A body chunk; false pauses reading until `control.resume()`. */
  onData(chunk: Buffer): boolean;
  /**
   * The response is complete. `tail` is its last body chunk when that chunk arrived in the
   * same read as the end of the response (not passed to onData): a small response is then
   * one call, and the proxy writes head, body and end to the client at once.
   */
  onComplete(tail?: Buffer): void;
  onError(err: Error): void;
}

export interface H1Request {
  method: string;
  /** Origin-form target: path and query, already normalised by the gateway. */
  path: string;
  /** Flat [name, value, ...], lower-case names. A `host` here replaces the target's. */
  headers: string[];
  /**
   * How many leading entries of `headers` (names and values) the caller vouches for: ones
   * Node's strict parser read from the client, or the gateway built itself. Every entry
   * after them is checked here (no CR/LF/controls, token names) before anything is written.
   */
  checked?: number;
  /** A Buffer is sent with its length; a stream with the request's content-length if set, else chunked. */
  body: Buffer | Readable | null;
  /** Overrides the pool's response-head timeout for this request (ms). */
  headersTimeout?: number;
}

export interface H1PoolOptions {
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  /** Largest upstream response head (bytes); 0 = Node's default (16 KiB). */
  maxHeaderSize?: number;
  /** https targets: certificate authorities trusted in addition to Node's (PEM). */
  ca?: string | Buffer | undefined;
  /** https targets: the name sent as SNI and checked in the certificate (default: the target's host). */
  servername?: string | undefined;
  /**
   * Requests that may wait for a connection when all `connections` are busy; one more is
   * refused at once (GH_QUEUE_FULL). Default 1024 (Envoy's max_pending_requests).
   */
  maxPending?: number;
  /** How long a request may wait in that queue (ms) before it fails (GH_QUEUE_TIMEOUT); default headersTimeout. */
  maxWait?: number;
}

/** One request's journey through the pool; the handler's control. */
export class Exchange implements H1Control {
  readonly pool: H1Pool;
  readonly req: H1Request;
  readonly handler: H1Handler;
  conn: H1Conn | null = null;
  /** onComplete or onError has been delivered. */
  done = false;
  /** Already sent again after a stale keep-alive connection. */
  retried = false;
  /** While queued: when its wait ends (the pool's coarse clock). */
  waitUntil = 0;

  constructor(pool: H1Pool, req: H1Request, handler: H1Handler) {
    this.pool = pool;
    this.req = req;
    this.handler = handler;
  }

  abort(err?: Error): void {
    this.pool.abort(this, err ?? new UpstreamError('UND_ERR_ABORTED', 'request aborted'));
  }

  /** Bound to this exchange: a late call (a drain after the response ended) cannot resume the next one. */
  resume(): void {
    this.conn?.resumeExchange(this);
  }

  /** Deliver a failure once. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.conn = null;
    this.handler.onError(err);
  }
}

export class H1Pool {
  readonly origin: string;
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
  /** Host header value when the request has none. */
  readonly hostHeader: string;
  readonly opts: Required<Omit<H1PoolOptions, 'ca' | 'servername'>> & Pick<H1PoolOptions, 'ca' | 'servername'>;
  /** Requests refused because the wait queue was full / waited past maxWait (metrics read these). */
  queueFull = 0;
  queueTimeouts = 0;
  private readonly idle: H1Conn[] = [];
  private readonly conns = new Set<H1Conn>();
  private queue: Exchange[] = [];
  private qHead = 0;
  private sweeper: NodeJS.Timeout | undefined = undefined;
  private readonly sweepMs: number;
  /** performance.now() at the last sweep (or when the sweeper started). */
  private clock = 0;
  private closing: (() => void) | undefined = undefined;
  closed = false;
  /** Exchanges on a connection right now. */
  busy = 0;

  constructor(origin: string, opts: H1PoolOptions) {
    const u = new URL(origin);
    this.origin = u.origin;
    this.tls = u.protocol === 'https:';
    this.hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.port = u.port ? Number(u.port) : this.tls ? 443 : 80;
    this.hostHeader = u.host;
    this.opts = { maxHeaderSize: 0, maxPending: 1024, maxWait: opts.headersTimeout, ...opts };
    // Deadlines are checked by one timer per pool, at a tenth of the shortest timeout (5-250 ms).
    this.sweepMs = Math.min(250, Math.max(5, Math.floor(Math.min(opts.connectTimeout, opts.headersTimeout, opts.bodyTimeout, this.opts.maxWait) / 10)));
  }

  /** Send one request. Never throws: failures reach `handler.onError`. */
  dispatch(req: H1Request, handler: H1Handler): boolean {
    const x = new Exchange(this, req, handler);
    handler.onConnect(x);
    if (x.done) return true; // aborted from onConnect
    if (this.closed) { x.fail(new UpstreamError('UND_ERR_CLOSED', 'upstream pool closed')); return false; }
    this.assign(x);
    return true;
  }

  /** Put an exchange on an idle connection, a new one, or the queue. */
  assign(x: Exchange): void {
    let c = this.idle.pop();
    while (c !== undefined && c.destroyed) c = this.idle.pop();
    if (c === undefined) {
      if (this.conns.size >= this.opts.connections) { this.enqueue(x); return; }
      if (this.sweeper === undefined) {
        this.clock = performance.now(); // before the first deadline is set on it
        this.sweeper = setInterval(this.sweep, this.sweepMs).unref();
      }
      c = new H1Conn(this);
      this.conns.add(c);
    }
    this.busy++;
    c.start(x);
  }

  /** Wait for a connection, within the queue's bounds (length and time). */
  private enqueue(x: Exchange): void {
    if (this.queue.length - this.qHead >= this.opts.maxPending) {
      this.queueFull++;
      x.fail(queueFull());
      return;
    }
    x.waitUntil = this.deadlineIn(this.opts.maxWait);
    this.queue.push(x);
  }

  /** Queued requests waiting for a connection right now. */
  get pending(): number { return this.queue.length - this.qHead; }

  /** A connection finished its exchange and may be reused. */
  release(c: H1Conn): void {
    const next = this.next();
    if (next !== undefined) { this.busy++; c.start(next); return; }
    if (this.closed || !c.idleFor()) { c.destroy(); return; }
    this.idle.push(c);
    this.checkClosed();
  }

  /** A connection closed. */
  forget(c: H1Conn): void {
    if (this.conns.delete(c)) {
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    }
    // Queued exchanges get the freed slot.
    if (this.qHead < this.queue.length && this.conns.size < this.opts.connections && !this.closed) {
      const next = this.next()!;
      this.assign(next);
    }
    if (this.conns.size === 0 && this.sweeper !== undefined) { clearInterval(this.sweeper); this.sweeper = undefined; }
    this.checkClosed();
  }

  abort(x: Exchange, err: Error): void {
    if (x.done) return;
    if (x.conn !== null) { x.conn.abortExchange(x, err); return; }
    const i = this.queue.indexOf(x, this.qHead);
    if (i >= 0) this.queue.splice(i, 1);
    x.fail(err);
  }

  /** Finish what is in flight, then close every connection. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    return new Promise<void>((resolve) => { this.closing = resolve; this.checkClosed(); });
  }

  /** Close now: queued and in-flight exchanges fail. */
  destroy(): void {
    this.closed = true;
    const err = new UpstreamError('UND_ERR_CLOSED', 'upstream pool destroyed');
    for (let x = this.next(); x !== undefined; x = this.next()) x.fail(err);
    for (const c of [...this.conns]) c.destroy(err);
  }

  private next(): Exchange | undefined {
    if (this.qHead >= this.queue.length) return undefined;
    const x = this.queue[this.qHead++]!;
    if (this.qHead > 64 && this.qHead * 2 > this.queue.length) { this.queue = this.queue.slice(this.qHead); this.qHead = 0; }
    return x;
  }

  private checkClosed(): void {
    if (this.closing === undefined || this.busy > 0 || this.qHead < this.queue.length) return;
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.conns.size > 0) return; // the last 'close' calls back here
    const done = this.closing;
    this.closing = undefined;
    done();
  }

  /**
   * A deadline `ms` from now on the pool's coarse clock (read once per sweep, not per
   * request): never early, late by at most two sweep periods.
   */
  deadlineIn(ms: number): number {
    return this.clock + ms + this.sweepMs;
  }

  private readonly sweep = (): void => {
    const now = this.clock = performance.now();
    for (const c of this.conns) c.checkDeadline(now);
    // FIFO with one maxWait: the expired ones are at the head.
    while (this.qHead < this.queue.length && this.queue[this.qHead]!.waitUntil <= now) {
      const x = this.next()!;
      this.queueTimeouts++;
      x.fail(queueTimeout());
    }
  };
}
