/**
 * One upstream connection: a socket, its native response parser, and the exchange it is
 * carrying. The parser's callbacks run synchronously inside `execute`; whether the
 * connection can be reused is decided after `execute` returns, so bytes that follow a
 * complete response in the same read (a misbehaving upstream) are caught, not handed to
 * the next request.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import type { Exchange, H1Pool } from './pool.ts';
import { bodyTimeout, connectTimeout, headersTimeout, socketClosed, UpstreamError } from './errors.ts';
import { consumableHandle, ON_BODY, ON_EXECUTE, ON_HEADERS, ON_HEADERS_COMPLETE, ON_MESSAGE_BEGIN, ON_MESSAGE_COMPLETE, responseParser, type NativeParser, type ParseError, type StreamHandle } from './parser.ts';

/** What the connection's deadline means. */
const Wait = { None: 0, Connect: 1, Head: 2, Body: 3, Idle: 4 } as const;
type Wait = (typeof Wait)[keyof typeof Wait];

/** The server's Keep-Alive timeout hint is trusted minus this margin (the race with its close). */
const HINT_MARGIN_MS = 1000;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class H1Conn {
  private readonly pool: H1Pool;
  private readonly sock: net.Socket;
  private readonly parser: NativeParser;
  private x: Exchange | null = null;
  destroyed = false;
  private connected = false;
  /** Responses completed on this connection (0: never used; a failure on a used one may be a stale close). */
  private served = 0;
  private wait: Wait = Wait.Connect;
  private deadline: number;
  private paused = false;
  // Per exchange:
  private skipBody = false;
  private info = false;
  private gotBytes = false;
  private reqDone = false;
  private resDone = false;
  private broken = false;
  private keepAlive = false;
  private hintMs = 0;
  private partial: string[] | null = null;
  private src: Readable | null = null;
  private chunked = false;

  /**
   * Body chunks the parser produced after the handler asked to pause (the rest of a read
   * already in hand), and whether the response completed meanwhile: both are delivered on
   * resume, so a handler never gets onData or onComplete while it is paused.
   */
  private held: Buffer[] | null = null;
  private heldComplete = false;
  /**
   * The latest body chunk of the read being parsed, kept until the parser moves on: if the
   * response completes in the same read it goes to onComplete as the tail; otherwise it is
   * passed to onData once the read is parsed. Never held across reads (streaming stays streaming).
   */
  private latest: Buffer | null = null;
  /**
   * Plain TCP: the parser reads the socket in C++ (no 'data' event, no Buffer per read in
   * JS) and reports each read to onExecute; pausing stops the handle. TLS sockets use 'data'.
   */
  private readonly handle: StreamHandle | undefined;
  /** What a handler threw inside a parser callback; the exchange fails once the read is parsed. */
  private thrown: Error | null = null;

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.deadline = this.pool.deadlineIn(pool.opts.connectTimeout);
    const sock = this.sock = pool.tls
      ? tls.connect({ host: pool.hostname, port: pool.port, servername: pool.opts.servername ?? (net.isIP(pool.hostname) ? undefined : pool.hostname), ALPNProtocols: ['http/1.1'], ...(pool.opts.ca === undefined ? {} : { ca: [...tls.rootCertificates, pool.opts.ca.toString()] }) })
      : net.connect({ host: pool.hostname, port: pool.port, noDelay: true });
    if (pool.tls) sock.setNoDelay(true);
    const p = this.parser = responseParser(pool.opts.maxHeaderSize);
    p[ON_MESSAGE_BEGIN] = this.onMessageBegin;
    p[ON_HEADERS] = this.onHeaderChunk;
    p[ON_HEADERS_COMPLETE] = this.onHeadersComplete;
    p[ON_BODY] = this.onBody;
    p[ON_MESSAGE_COMPLETE] = this.onMessageComplete;
    this.handle = pool.tls ? undefined : consumableHandle(sock);
    if (this.handle !== undefined) {
      p.consume(this.handle);
      p[ON_EXECUTE] = this.onExecute;
    } else {
      p[ON_EXECUTE] = null;
      sock.on('data', this.onSocketData);
    }
    sock.once(pool.tls ? 'secureConnect' : 'connect', this.onConnected);
    sock.on('end', this.onSocketEnd);
    sock.on('error', this.onSocketError);
    sock.once('close', this.onSocketClose);
  }

  /** Start an exchange: write the request head (and a buffered body) now. */
  start(x: Exchange): void {
    this.x = x;
    x.conn = this;
    this.skipBody = x.req.method === 'HEAD';
    this.info = this.gotBytes = this.reqDone = this.resDone = this.broken = this.keepAlive = false;
    this.paused = this.heldComplete = false;
    this.held = this.latest = null;
    this.partial = null;
    this.src = null;
    if (this.connected) {
      this.wait = Wait.Head;
      this.deadline = this.pool.deadlineIn(x.req.headersTimeout ?? this.pool.opts.headersTimeout);
    }
    const head = this.head(x);
    if (head === undefined) return;
    const body = x.req.body;
    if (body === null) {
      this.reqDone = true;
      this.sock.write(head, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      this.reqDone = true;
      this.sock.cork();
      this.sock.write(head, 'latin1');
      this.sock.write(body);
      this.sock.uncork();
    } else {
      this.sock.write(head, 'latin1');
      this.pipeBody(body);
    }
  }

  /** The request line and header block; undefined (and the exchange failed) if a value could inject. */
  private head(x: Exchange): string | undefined {
    const r = x.req;
    if (!isToken(r.method) || !isPath(r.path)) { this.rejectRequest(x, 'invalid method or path'); return undefined; }
    let s = `${r.method} ${r.path} HTTP/1.1\r\n`;
    let host = false;
    let length = false;
    const h = r.headers;
    const checked = r.checked ?? 0;
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i]!;
      const v = h[i + 1]!;
      if (i >= checked && (!isToken(n) || !isValue(v))) { this.rejectRequest(x, `invalid header ${JSON.stringify(n)}`); return undefined; }
      if (n.length === 4 && n === 'host') host = true;
      else if (n.length === 14 && n === 'content-length') length = true;
      s += `${n}: ${v}\r\n`;
    }
    if (!host) s += `host: ${this.pool.hostHeader}\r\n`;
    const body = r.body;
    if (body === null) {
      // As undici does: methods that carry a body say it is empty.
      if (!length && BODY_METHODS.has(r.method)) s += 'content-length: 0\r\n';
    } else if (Buffer.isBuffer(body)) {
      if (!length) s += `content-length: ${body.length}\r\n`;
    } else if (!length) {
      this.chunked = true;
      s += 'transfer-encoding: chunked\r\n';
    } else {
      this.chunked = false;
    }
    return `${s}\r\n`;
  }

  /** A request this client refuses to write: the connection stays clean and goes back to the pool. */
  private rejectRequest(x: Exchange, why: string): void {
    this.detach();
    this.wait = this.connected ? Wait.None : Wait.Connect;
    x.fail(new UpstreamError('UND_ERR_INVALID_ARG', why));
    if (this.connected) this.pool.release(this);
    else this.destroy();
  }

  private pipeBody(src: Readable): void {
    this.src = src;
    const onData = (chunk: Buffer): void => {
      if (this.src !== src) return;
      let ok: boolean;
      if (this.chunked) {
        if (chunk.length === 0) return;
        this.sock.cork();
        this.sock.write(`${chunk.length.toString(16)}\r\n`);
        this.sock.write(chunk);
        ok = this.sock.write('\r\n');
        this.sock.uncork();
      } else {
        ok = this.sock.write(chunk);
      }
      if (!ok) {
        src.pause();
        this.sock.once('drain', () => { if (this.src === src) src.resume(); });
      }
    };
    const onEnd = (): void => {
      if (this.src !== src) return;
      this.src = null;
      if (this.chunked) this.sock.write('0\r\n\r\n');
      this.reqDone = true;
    };
    const onError = (err: Error): void => {
      if (this.src !== src) return;
      this.src = null;
      const x = this.x;
      if (x !== null) this.failExchange(x, err);
      this.destroy();
    };
    const onClose = (): void => {
      // The client went away before its body ended: the request on this connection is cut.
      if (this.src !== src) return;
      onError(new UpstreamError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'request body ended early'));
    };
    src.on('data', onData);
    src.once('end', onEnd);
    src.once('error', onError);
    src.once('close', onClose);
    if (src.readableEnded) onEnd(); // an already-consumed stream has nothing to send
  }

  /** Called by the pool's timer. */
  checkDeadline(now: number): void {
    if (this.wait === Wait.None || now < this.deadline || (this.paused && this.wait === Wait.Body)) return;
    const w = this.wait;
    this.wait = Wait.None;
    if (w === Wait.Idle) { this.destroy(); return; }
    const x = this.x;
    if (x !== null) this.failExchange(x, w === Wait.Connect ? connectTimeout() : w === Wait.Head ? headersTimeout() : bodyTimeout());
    this.destroy();
  }

  /** Idle from now on; false if the server's Keep-Alive hint leaves no time to reuse it. */
  idleFor(): boolean {
    const hint = this.hintMs > 0 ? this.hintMs - HINT_MARGIN_MS : Infinity;
    const ms = Math.min(this.pool.opts.keepAliveTimeout, hint);
    if (ms <= 0) return false;
    this.wait = Wait.Idle;
    this.deadline = this.pool.deadlineIn(ms);
    return true;
  }

  abortExchange(x: Exchange, err: Error): void {
    if (this.x !== x) return;
    this.failExchange(x, err);
    this.destroy();
  }

  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.wait = Wait.None;
    const x = this.x;
    if (x !== null && err !== undefined) this.failExchange(x, err);
    this.sock.destroy();
  }

  /** End the current exchange with an error, or send it again if the connection was only stale. */
  private failExchange(x: Exchange, err: Error): void {
    if (this.x === x) this.detach();
    this.src = null;
    if (x.done) return;
    const code = (err as { code?: string }).code;
    const stale = this.served > 0 && !this.gotBytes && !x.retried && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE');
    if (stale && IDEMPOTENT.has(x.req.method) && (x.req.body === null || Buffer.isBuffer(x.req.body)) && !this.pool.closed) {
      x.retried = true;
      x.conn = null;
      this.pool.assign(x);
      return;
    }
    x.fail(err);
  }

  /** The exchange leaves this connection (done, failed or handed on): one busy slot less. */
  private detach(): void {
    this.x = null;
    this.pool.busy--;
  }

  private readonly onConnected = (): void => {
    this.connected = true;
    if (this.wait === Wait.Connect) {
      const x = this.x;
      this.wait = x === null ? Wait.None : Wait.Head;
      if (x !== null) this.deadline = this.pool.deadlineIn(x.req.headersTimeout ?? this.pool.opts.headersTimeout);
    }
  };

  private readonly onSocketData = (d: Buffer): void => {
    const x = this.x;
    if (x === null) { this.destroy(); return; } // bytes nobody asked for
    this.gotBytes = true;
    let r: number | Error;
    try {
      r = this.parser.execute(d);
    } catch (err) {
      // A handler threw inside a parser callback: this exchange ends, the process does not.
      r = err instanceof Error ? err : new Error(String(err));
    }
    if (typeof r !== 'number') {
      if (this.x === x) this.failExchange(x, r);
      this.destroy();
      return;
    }
    this.afterExecute();
  };

  /** A read parsed in consume mode (called from C++ after each read). */
  private readonly onExecute = (r: number | ParseError): void => {
    const x = this.x;
    if (typeof r !== 'number') {
      if (x !== null) this.failExchange(x, r);
      this.destroy();
      return;
    }
    this.afterExecute();
  };

  /** A handler threw inside a parser callback: this exchange ends after the read, the process goes on. */
  private caught(err: unknown): void {
    this.thrown ??= err instanceof Error ? err : new Error(String(err));
    this.broken = true;
  }

  private afterExecute(): void {
    if (this.thrown === null && this.latest !== null) this.flushLatest();
    const thrown = this.thrown;
    if (thrown !== null) {
      this.thrown = null;
      this.latest = null;
      const x = this.x;
      if (x !== null) this.failExchange(x, thrown);
      this.destroy();
      return;
    }
    if (!this.resDone) {
      if (this.broken) { const x = this.x; if (x !== null) this.failExchange(x, new UpstreamError('UND_ERR_SOCKET', 'upstream out of step: an upgrade nobody asked for')); this.destroy(); }
      return;
    }
    this.resDone = false;
    if (this.broken || !this.keepAlive || !this.reqDone || this.destroyed) { this.destroy(); return; }
    this.pool.release(this);
  }

  private readonly onSocketEnd = (): void => {
    const x = this.x;
    if (x !== null) {
      // A body delimited by the close ends here; anything else is cut short.
      const err = this.parser.finish();
      if (err !== undefined) {
        if (this.x === x) this.failExchange(x, Object.assign(err, { code: err.code === 'HPE_INVALID_EOF_STATE' ? 'UND_ERR_SOCKET' : err.code }));
      } else if (this.x === x && !this.resDone) {
        this.failExchange(x, socketClosed());
      }
    }
    this.destroy();
  };

  private readonly onSocketError = (err: Error): void => {
    const x = this.x;
    if (x !== null) this.failExchange(x, err);
    this.destroy();
  };

  private readonly onSocketClose = (): void => {
    this.destroyed = true;
    const x = this.x;
    if (x !== null) this.failExchange(x, socketClosed());
    if (this.handle !== undefined) this.parser.unconsume();
    this.parser.close();
    this.pool.forget(this);
  };

  // Parser callbacks (run inside execute).

  private readonly onMessageBegin = (): void => {
    this.gotBytes = true;
    // A second response where one was asked for, or bytes on an idle connection: the upstream is out of step.
    if (this.resDone || this.x === null) this.broken = true;
  };

  private readonly onHeaderChunk = (headers: string[]): void => {
    this.partial = this.partial === null ? headers : this.partial.concat(headers);
  };

  private readonly onHeadersComplete = (_major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, _message: string, upgrade: boolean, keepAlive: boolean): number => {
    const x = this.x;
    if (x === null || this.broken) return 0;
    if (headers === undefined) { headers = this.partial ?? []; this.partial = null; }
    if (upgrade || status === 101) { this.broken = true; return 0; }
    if (status < 200) {
      // 1xx: wait for the final response. 102/103 may be passed on (100 is the gateway's own
      // to send, pipeline/expect.ts); what the handler does with it cannot fail the exchange.
      this.info = true;
      if (status !== 100 && x.handler.onInfo !== undefined) {
        try { x.handler.onInfo(status, headers); } catch { /* an interim response is only a hint */ }
      }
      return 0;
    }
    this.keepAlive = keepAlive;
    this.hintMs = keepAliveHint(headers);
    this.wait = Wait.Body;
    this.deadline = this.pool.deadlineIn(this.pool.opts.bodyTimeout);
    try {
      if (!x.handler.onHeaders(status, headers)) this.pause();
    } catch (err) {
      this.caught(err);
    }
    return this.skipBody ? 1 : 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const x = this.x;
    if (x === null || this.info || this.thrown !== null) return;
    this.deadline = this.pool.deadlineIn(this.pool.opts.bodyTimeout);
    if (this.paused) { (this.held ??= []).push(chunk); return; }
    const prev = this.latest;
    this.latest = chunk;
    if (prev !== null && !this.deliver(x, prev)) {
      this.pause();
      // Paused: the newest chunk waits with the others until resume.
      this.latest = null;
      (this.held ??= []).push(chunk);
    }
  };

  private deliver(x: Exchange, chunk: Buffer): boolean {
    try {
      return x.handler.onData(chunk);
    } catch (err) {
      this.caught(err);
      return true;
    }
  }

  /** End of a parsed read: a chunk still kept goes to the handler now (a throw fails the exchange, as in a callback). */
  private flushLatest(): void {
    const chunk = this.latest;
    const x = this.x;
    if (chunk === null || x === null) return;
    this.latest = null;
    if (!this.deliver(x, chunk)) this.pause();
  }

  private readonly onMessageComplete = (): void => {
    if (this.info) { this.info = false; return; }
    const x = this.x;
    // broken: an unsolicited 101 (or a response out of step) ends here; afterExecute fails the exchange (502).
    if (x === null || this.thrown !== null || this.broken) return;
    if (this.paused) { this.heldComplete = true; return; }
    try {
      this.complete(x);
    } catch (err) {
      this.caught(err);
    }
  };

  private complete(x: Exchange): void {
    const tail = this.latest;
    this.latest = null;
    this.detach();
    this.resDone = true;
    this.wait = Wait.None;
    this.served++;
    x.done = true;
    x.conn = null;
    if (tail === null) x.handler.onComplete();
    else x.handler.onComplete(tail);
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    const h = this.handle;
    if (h === undefined) { this.sock.pause(); return; }
    if (!this.destroyed && h.reading !== false) { h.reading = false; h.readStop(); }
  }

  private unpause(): void {
    const h = this.handle;
    if (h === undefined) { this.sock.resume(); return; }
    if (!this.destroyed && h.reading !== true) { h.reading = true; h.readStart(); }
  }

  /** The exchange's handler can take more: held chunks first, then the socket again. */
  resumeExchange(x: Exchange): void {
    if (this.x !== x || !this.paused || this.destroyed) return;
    this.paused = false;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      for (let i = 0; i < held.length; i++) {
        if (!x.handler.onData(held[i]!)) {
          if (this.x !== x) return; // the handler ended the exchange
          this.paused = true; // the socket never resumed
          if (i + 1 < held.length) this.held = held.slice(i + 1);
          return;
        }
        if (this.x !== x) return;
      }
    }
    this.unpause();
    if (this.heldComplete) {
      this.heldComplete = false;
      this.complete(x);
      this.afterExecute();
      return;
    }
    if (this.wait === Wait.Body) this.deadline = this.pool.deadlineIn(this.pool.opts.bodyTimeout);
  }
}

/** The `timeout=N` of a Keep-Alive response header, in ms; 0 when absent. */
function keepAliveHint(h: readonly string[]): number {
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    if (n.length !== 10 || n.toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(h[i + 1]!);
    return m ? Number(m[1]) * 1000 : 0;
  }
  return 0;
}

/** RFC 9110 token characters. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c > 127 || TOKEN[c] === 0) return false; }
  return true;
}

/** A field value without CR, LF, NUL or other controls (HTAB allowed), latin1 only. */
export function isValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false;
  }
  return true;
}

/** An origin-form target: visible latin1 characters only (no space, no controls). */
export function isPath(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c <= 32 || c === 127 || c > 255) return false; }
  return true;
}
