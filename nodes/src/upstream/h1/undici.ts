/**
 * The escape hatch of decision 0005: the proxy path's HTTP/1.1 pool on undici's `Pool`
 * instead of Gatehouse's own client, behind the same interface (`dispatch(req, handler)`
 * with the H1Handler callbacks, `pending`, `queueFull`, `queueTimeouts`, `close`). Chosen
 * by `node.upstreamClient: undici` or GATEHOUSE_UPSTREAM_CLIENT=undici (client-choice.ts);
 * it is what forwarding runs on the day Node's internal parser (`_http_common`, DEP0199)
 * is gone.
 *
 * What it adds on top of undici, so the proxy, retries and breakers see the same pool:
 * - the per-target wait queue (decision 0009): at most `connections` requests are handed
 *   to undici at once, the rest wait here, bounded by `maxPending` (GH_QUEUE_FULL) and
 *   `maxWait` (GH_QUEUE_TIMEOUT), both answered 503 GW_UPSTREAM_OVERLOADED;
 * - a control per exchange: `resume()` of a finished exchange is a no-op (undici's resume
 *   belongs to the connection and would wake the next request on it);
 * - 1xx heads skipped, header lists as strings, no `tail` on onComplete;
 * - TLS: the certificate name is the target's (or `servername`), never a preserved client
 *   Host (undici would take it from the Host header and reconnect per distinct Host).
 *
 * undici's own error codes are the vocabulary the gateway maps (error-code.ts), so errors
 * pass through unchanged. It uses undici's classic handler methods: undici 7 still runs
 * them natively (newer-style handlers are adapted to them), so nothing is wrapped per request.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import type { H1Control, H1Handler, H1PoolOptions, H1Request } from './pool.ts';
import { queueFull, queueTimeout, UpstreamError } from './errors.ts';

/** One request: the handler's control and undici's handler in one object (no closures per request). */
class UExchange implements H1Control {
  readonly pool: UndiciH1Pool;
  readonly req: H1Request;
  readonly handler: H1Handler;
  /** onComplete or onError has been delivered to the handler. */
  done = false;
  /** Handed to undici: holds one of the pool's `connections` slots until undici reports the end. */
  sent = false;
  /** While queued here: when its wait ends (performance.now() ms). */
  waitUntil = 0;
  /** undici's abort for this request (from its onConnect) and its connection's resume (from onHeaders). */
  private undiciAbort: ((err?: Error) => void) | undefined = undefined;
  private undiciResume: (() => void) | undefined = undefined;

  constructor(pool: UndiciH1Pool, req: H1Request, handler: H1Handler) {
    this.pool = pool;
    this.req = req;
    this.handler = handler;
  }

  // H1Control

  abort(err?: Error): void {
    if (this.done) return;
    const e = err ?? new UpstreamError('UND_ERR_ABORTED', 'request aborted');
    if (!this.sent) { this.pool.unqueue(this); this.fail(e); return; }
    if (this.undiciAbort !== undefined) { this.undiciAbort(e); return; }
    // Sent but not written yet (undici's own queue, briefly): end it for the handler now;
    // undici's onConnect aborts it when it comes.
    this.fail(e);
  }

  resume(): void {
    if (!this.done) this.undiciResume?.();
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError(err);
  }

  // undici's dispatch handler

  onConnect(abort: (err?: Error) => void): void {
    this.undiciAbort = abort;
    if (this.done) abort(new UpstreamError('UND_ERR_ABORTED', 'request aborted'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (this.done) return false;
    if (status < 200) return true; // 1xx: the final head follows
    this.undiciResume = resume;
    const headers = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) headers[i] = raw[i]!.toString('latin1');
    return this.handler.onHeaders(status, headers);
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return false;
    return this.handler.onData(chunk);
  }

  onComplete(): void {
    this.pool.finished(this);
    if (this.done) return;
    this.done = true;
    this.handler.onComplete();
  }

  onError(err: Error): void {
    this.pool.finished(this);
    this.fail(err);
  }
}

export class UndiciH1Pool {
  readonly origin: string;
  /** Requests refused because the wait queue was full / waited past maxWait (metrics read these). */
  queueFull = 0;
  queueTimeouts = 0;
  closed = false;
  private readonly pool: Pool;
  private readonly connections: number;
  private readonly maxPending: number;
  private readonly maxWait: number;
  /** The certificate name every request carries, so undici never switches it per request. */
  private readonly servername: string | undefined;
  /** Requests handed to undici and not finished yet (at most `connections`). */
  private active = 0;
  private queue: UExchange[] = [];
  private qHead = 0;
  private sweeper: NodeJS.Timeout | undefined = undefined;
  private readonly sweepMs: number;
  private closing: (() => void) | undefined = undefined;

  constructor(origin: string, opts: H1PoolOptions) {
    const u = new URL(origin);
    this.origin = u.origin;
    const https = u.protocol === 'https:';
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.connections = opts.connections;
    this.maxPending = opts.maxPending ?? 1024;
    this.maxWait = opts.maxWait ?? opts.headersTimeout;
    this.sweepMs = Math.min(250, Math.max(5, Math.floor(this.maxWait / 10)));
    // As the own client: the configured name, else the target's host name (no SNI for an IP).
    const sni = opts.servername ?? (net.isIP(hostname) ? undefined : hostname);
    this.servername = https ? (sni ?? hostname) : undefined;
    const connector = buildConnector({
      timeout: opts.connectTimeout,
      ...(opts.ca === undefined ? {} : { ca: [...tls.rootCertificates, opts.ca.toString()] }),
    });
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      pipelining: 1,
      headersTimeout: opts.headersTimeout,
      bodyTimeout: opts.bodyTimeout,
      keepAliveTimeout: opts.keepAliveTimeout,
      // The server's Keep-Alive hint counts minus 1 s, never past our own idle time (as h1/connection.ts).
      keepAliveMaxTimeout: opts.keepAliveTimeout,
      keepAliveTimeoutThreshold: 1000,
      ...(opts.maxHeaderSize ? { maxHeaderSize: opts.maxHeaderSize } : {}),
      // undici would name the certificate after each request's Host; the target's name is used instead.
      connect: (o, cb) => connector({ ...o, servername: sni } as typeof o, cb),
    });
  }

  /** Send one request. Never throws: failures reach `handler.onError`. */
  dispatch(req: H1Request, handler: H1Handler): boolean {
    const x = new UExchange(this, req, handler);
    handler.onConnect(x);
    if (x.done) return true; // aborted from onConnect
    if (this.closed) { x.fail(new UpstreamError('UND_ERR_CLOSED', 'upstream pool closed')); return false; }
    if (this.active < this.connections) { this.send(x); return true; }
    if (this.pending >= this.maxPending) {
      this.queueFull++;
      x.fail(queueFull());
      return true;
    }
    x.waitUntil = performance.now() + this.maxWait;
    this.queue.push(x);
    this.sweeper ??= setInterval(this.sweep, this.sweepMs).unref();
    return true;
  }

  /** Queued requests waiting for a connection right now. */
  get pending(): number { return this.queue.length - this.qHead; }

  private send(x: UExchange): void {
    this.active++;
    x.sent = true;
    const r = x.req;
    const opts: Dispatcher.DispatchOptions = {
      method: r.method as Dispatcher.HttpMethod,
      path: r.path,
      headers: r.headers,
      body: r.body,
      ...(r.headersTimeout === undefined ? {} : { headersTimeout: r.headersTimeout }),
      ...(this.servername === undefined ? {} : { servername: this.servername }),
    };
    try {
      this.pool.dispatch(opts, x);
    } catch (err) {
      // undici reports bad arguments through onError; anything thrown is still this request's failure.
      x.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** undici finished an exchange (completed or failed): its slot goes to the next queued one. */
  finished(x: UExchange): void {
    if (!x.sent) return;
    x.sent = false;
    this.active--;
    const next = this.next();
    if (next !== undefined) this.send(next);
    this.checkClosed();
  }

  /** A queued exchange is aborted before it was sent. */
  unqueue(x: UExchange): void {
    const i = this.queue.indexOf(x, this.qHead);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Finish what is in flight and queued, then close every connection. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise<void>((resolve) => { this.closing = resolve; this.checkClosed(); });
  }

  /** Close now: queued and in-flight exchanges fail. */
  destroy(): void {
    this.closed = true;
    const err = new UpstreamError('UND_ERR_CLOSED', 'upstream pool destroyed');
    for (let x = this.next(); x !== undefined; x = this.next()) x.fail(err);
    this.stopSweeper();
    this.pool.destroy(err).catch(() => undefined);
  }

  private next(): UExchange | undefined {
    if (this.qHead >= this.queue.length) { this.stopSweeper(); return undefined; }
    const x = this.queue[this.qHead++]!;
    if (this.qHead > 64 && this.qHead * 2 > this.queue.length) { this.queue = this.queue.slice(this.qHead); this.qHead = 0; }
    return x;
  }

  private stopSweeper(): void {
    if (this.sweeper !== undefined) { clearInterval(this.sweeper); this.sweeper = undefined; }
  }

  private checkClosed(): void {
    if (this.closing === undefined || this.active > 0 || this.pending > 0) return;
    const done = this.closing;
    this.closing = undefined;
    this.stopSweeper();
    this.pool.close().catch(() => undefined).finally(done);
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    // FIFO with one maxWait: the expired ones are at the head.
    while (this.qHead < this.queue.length && this.queue[this.qHead]!.waitUntil <= now) {
      const x = this.next()!;
      this.queueTimeouts++;
      x.fail(queueTimeout());
    }
    if (this.pending === 0) this.stopSweeper();
  };
}
