/**
 * The access log: one JSON line per request, built straight into a string (no log object,
 * no child logger, no serializer per request) and copied at once as UTF-8 into a 64 KiB
 * batch buffer, written when full or at least once a second, one write at a time. The
 * batch is off the JS heap: a line is garbage as soon as it is copied, so pending lines
 * never survive a scavenge to be copied and promoted (a pending string batch did: a rope of
 * ~20 pieces per line, held for up to 64 KiB of lines, and flattened again to be written). Sampling drops a share
 * of successful requests; every 5xx and gateway error is always written.
 *
 * Sinks: stdout (default) or a file (`file`), reopened on SIGUSR2 (for logrotate's
 * move-and-signal) and, with `maxSize`, rotated to `<file>.1` when it grows past that size.
 * When the sink cannot keep up, the pending batch is capped (8 MiB) and further lines are
 * dropped and counted, never queued without bound.
 *
 * Credentials never reach the log: no request header is logged (Authorization, Cookie,
 * API-key headers), and query parameters whose name is on the redact list are written as
 * `[REDACTED]`.
 */
import { closeSync, openSync, renameSync, statSync, writev, writeSync } from 'node:fs';
import type { RequestContext } from '../request/context.ts';
import { cacheResult, rateLimitDecision } from '../request/tracing.ts';

export interface AccessLogOptions {
  enabled: boolean;
  sample: number;
  /** Append to this file instead of stdout. */
  file?: string;
  /** Rotate the file to `<file>.1` past this many bytes (0: never; use SIGUSR2 with logrotate). */
  maxSize?: number;
  /** Query parameter names (case-insensitive) whose values are written as [REDACTED]. */
  redactQuery?: readonly string[];
}

export const DEFAULT_REDACT_QUERY = ['api_key', 'apikey', 'api-key', 'key', 'token', 'access_token', 'id_token', 'refresh_token', 'auth', 'authorization', 'password', 'passwd', 'secret', 'client_secret', 'signature', 'sig', 'code'];

/** A destination taking whole lines (tests pass a Writable). */
export interface LineSink { write(chunk: string): unknown }

/** Size of a batch buffer: a full one is written. */
const CHUNK = 64 * 1024;
const MAX_PENDING = 8 * 1024 * 1024;
/** Emptied batch buffers kept for reuse. */
const SPARE = 4;
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029]/;
const OUT = Symbol('gatehouse.bytesWritten');
const TRACEPARENT_TRACE = /^00-([0-9a-f]{32})-/;

/**
 * The response's bytes: an HTTP/2 response counts its own body bytes (listeners/h2-exchange.ts);
 * an HTTP/1.1 one is what its socket wrote since the previous response on that connection
 * ended (head included). A connection's count alone would charge a stream with its siblings'.
 */
function bytesOut(ctx: RequestContext): number {
  const own = (ctx.res as { bytesOut?: number }).bytesOut;
  if (own !== undefined) return own;
  const sock = ctx.req.socket as { bytesWritten?: number; [OUT]?: number } | null;
  const written = sock?.bytesWritten;
  if (typeof written !== 'number') return 0;
  const out = written - (sock![OUT] ?? 0);
  sock![OUT] = written;
  return out;
}

/** A JSON string literal: quoted as is when nothing needs escaping (the common case). */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** '', '.001' … '.999' without trailing zeros: the decimals of a count of µs as ms. */
const FRACTION = Array.from({ length: 1000 }, (_, i) => (i === 0 ? '' : `.${String(i).padStart(3, '0').replace(/0+$/, '')}`));
/** '000' … '999'. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * Milliseconds rounded to 3 decimals, as JSON: the same text as `String(Math.round(x * 1000) / 1000)`
 * from integer parts (a small integer's string is cached by V8; a fraction's is printed anew).
 */
function ms3(x: number): string {
  const us = Math.round(x * 1000);
  if (us < 0 || us > 0x7fffffff) return String(us / 1000);
  const whole = (us / 1000) | 0;
  return `${whole}${FRACTION[us - whole * 1000]!}`;
}

export class AccessLogger {
  private readonly enabled: boolean;
  private readonly sample: number;
  private readonly sink: LineSink | undefined;
  private readonly file: string | undefined;
  private readonly maxSize: number;
  private readonly redact: ReadonlySet<string>;
  private fd = -1;
  private fileBytes = 0;
  /** The batch being filled: `buf[0, pos)`. */
  private buf: Buffer = Buffer.allocUnsafeSlow(CHUNK);
  private pos = 0;
  /** Full batches (views of their buffers) waiting for the write in flight. */
  private full: Buffer[] = [];
  private fullBytes = 0;
  private readonly spare: Buffer[] = [];
  private writing = false;
  private lastMs = 0;
  private lastIso = '';
  /** The ISO time of the current second up to its '.', and that second in epoch ms. */
  private secPrefix = '';
  private secMs = -1;
  private readonly onSignal: (() => void) | undefined;
  /** Lines dropped because the sink could not keep up (read by the metrics). */
  dropped = 0;

  constructor(opts: AccessLogOptions, destination?: LineSink) {
    this.enabled = opts.enabled;
    this.sample = opts.sample;
    this.redact = new Set((opts.redactQuery ?? DEFAULT_REDACT_QUERY).map((n) => n.toLowerCase()));
    this.maxSize = opts.maxSize ?? 0;
    this.sink = destination;
    this.file = destination === undefined ? opts.file : undefined;
    if (!this.enabled) return;
    if (this.file !== undefined) {
      this.open();
      this.onSignal = () => this.reopen();
      process.on('SIGUSR2', this.onSignal);
    } else if (destination === undefined) this.fd = 1;
  }

  private open(): void {
    this.fd = openSync(this.file!, 'a');
    try { this.fileBytes = statSync(this.file!).size; } catch { this.fileBytes = 0; }
  }

  /** Reopen the file (after logrotate moved it): lines already pending go to the new file. */
  reopen(): void {
    if (this.file === undefined) return;
    const old = this.fd;
    try { this.open(); } catch { return; } // keep writing to the old one rather than lose lines
    if (old > 2 && !this.writing) closeSync(old);
    else if (old > 2) this.closeAfterWrite = old;
  }

  private closeAfterWrite = -1;
  /** flush() was asked for while a write was in flight: write again when it completes. */
  private again = false;

  /** Write pending lines at least once a second so a quiet node's log is not held back. */
  startFlushing(): NodeJS.Timeout | undefined {
    if (!this.enabled) return undefined;
    const t = setInterval(() => this.flush(), 1000);
    t.unref();
    return t;
  }

  write(ctx: RequestContext, now: number): void {
    if (!this.enabled) return;
    // Before sampling: a line left out must not add its bytes to the next one on its connection.
    const out = bytesOut(ctx);
    const status = ctx.status;
    const code = ctx.errorCode;
    if (status < 500 && code === undefined && this.sample < 1 && Math.random() >= this.sample) return;
    if (this.fullBytes > MAX_PENDING) { this.dropped++; return; }
    const wall = Date.now();
    if (wall !== this.lastMs) this.tick(wall);
    const req = ctx.req;
    const route = ctx.route;
    const consumer = ctx.consumer;
    const cl = req.headers['content-length'];
    const bytesIn = ctx.body !== undefined ? ctx.body.length : cl !== undefined ? Number(cl) || 0 : 0;
    let line = `{"time":"${this.lastIso}","type":"access","requestId":${str(ctx.id)}`;
    const traceId = ctx.trace !== undefined ? ctx.trace.traceId : traceIdOf(req.headers.traceparent, ctx);
    if (traceId !== undefined) line += `,"traceId":"${traceId}"`;
    line += `,"method":${str(ctx.method)},"host":${str(ctx.host)},"path":${str(ctx.path)}`;
    if (ctx.rawQuery.length > 0) line += `,"query":${str(this.redactQuery(ctx.rawQuery))}`;
    if (route !== undefined) line += `,"route":${str(route.name)}`;
    line += `,"status":${status}`;
    if (code !== undefined) line += `,"code":"${code}"`;
    line += `,"client":${str(ctx.clientIp)}`;
    if (consumer !== undefined) line += `,"consumer":${str(consumer.name)}`;
    if (ctx.target !== undefined) line += `,"upstream":${str(ctx.target)}`;
    line += `,"bytesIn":${bytesIn},"bytesOut":${out},"durationMs":${ms3(now - ctx.start)}`;
    if (ctx.upstreamEnd > 0) line += `,"upstreamMs":${ms3(ctx.upstreamEnd - ctx.upstreamStart)}`;
    const cache = cacheResult(ctx);
    if (cache !== undefined) line += `,"cache":"${cache}"`;
    const rl = rateLimitDecision(ctx);
    if (rl !== undefined) line += `,"rateLimit":"${rl}"`;
    this.append(`${line}}\n`);
  }

  /** The time field for `wall` (epoch ms): the date is formatted once a second, the ms from a table. */
  private tick(wall: number): void {
    this.lastMs = wall;
    const ms = wall % 1000;
    const sec = wall - ms;
    if (sec !== this.secMs) {
      this.secMs = sec;
      const iso = new Date(sec).toISOString();
      this.secPrefix = iso.slice(0, iso.length - 4); // up to and with the '.'
    }
    this.lastIso = `${this.secPrefix}${MILLIS[ms]!}Z`;
  }

  /** Copy one line into the batch (UTF-8 takes at most 3 bytes per UTF-16 unit); a full batch is written. */
  private append(line: string): void {
    const most = line.length * 3;
    if (this.pos + most > CHUNK) {
      this.seal();
      if (most > CHUNK) { // a line longer than a batch: a buffer of its own
        const b = Buffer.from(line, 'utf8');
        this.full.push(b);
        this.fullBytes += b.length;
        this.flush();
        return;
      }
      this.flush();
    }
    this.pos += this.buf.write(line, this.pos);
  }

  /** The batch being filled joins the full ones; a spare (or new) buffer is the next. */
  private seal(): void {
    if (this.pos === 0) return;
    this.full.push(this.buf.subarray(0, this.pos));
    this.fullBytes += this.pos;
    this.buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
    this.pos = 0;
  }

  /** Written batches' buffers back to the spares (only whole batch buffers). */
  private recycle(chunks: readonly Buffer[]): void {
    for (const c of chunks) {
      if (this.spare.length >= SPARE) return;
      if (c.buffer.byteLength === CHUNK && c.byteOffset === 0) this.spare.push(Buffer.from(c.buffer, 0, CHUNK));
    }
  }

  /** Bytes logged and not yet handed to the sink. */
  get pendingBytes(): number { return this.fullBytes + this.pos; }

  /** The query with the values of secret-named parameters replaced. */
  redactQuery(q: string): string {
    let out = '';
    let start = 0;
    while (start <= q.length) {
      let end = q.indexOf('&', start);
      if (end < 0) end = q.length;
      const part = q.slice(start, end);
      const eq = part.indexOf('=');
      let name = eq < 0 ? part : part.slice(0, eq);
      if (name.includes('%') || name.includes('+')) { try { name = decodeURIComponent(name.replace(/\+/g, ' ')); } catch { /* keep raw */ } }
      out += (start > 0 ? '&' : '') + (eq >= 0 && this.redact.has(name.toLowerCase()) ? `${part.slice(0, eq)}=[REDACTED]` : part);
      start = end + 1;
    }
    return out;
  }

  /** Hand the pending lines to the sink: one write in flight at a time. */
  flush(): void {
    if (this.pendingBytes === 0) return;
    if (this.writing) { this.again = true; return; }
    this.seal();
    const chunks = this.full;
    this.full = [];
    this.fullBytes = 0;
    if (this.sink !== undefined) {
      this.sink.write(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
      this.recycle(chunks);
      return;
    }
    if (this.fd < 0) { this.recycle(chunks); return; }
    this.writing = true;
    writev(this.fd, chunks, null, (err, n) => {
      this.writing = false;
      if (this.closeAfterWrite > 2) { try { closeSync(this.closeAfterWrite); } catch { /* already closed */ } this.closeAfterWrite = -1; }
      if (err) this.dropped += countLines(chunks);
      else {
        this.fileBytes += n;
        if (this.file !== undefined && this.maxSize > 0 && this.fileBytes >= this.maxSize) this.rotate();
      }
      this.recycle(chunks);
      if (this.again || this.fullBytes > 0) { this.again = false; this.flush(); }
    });
  }

  private rotate(): void {
    try { renameSync(this.file!, `${this.file!}.1`); } catch { return; }
    this.reopen();
  }

  /** Write what is pending (synchronously: the process may be about to exit) and release the file. */
  close(): void {
    if (this.onSignal) process.off('SIGUSR2', this.onSignal);
    if (this.sink !== undefined) { this.flush(); return; }
    this.seal();
    if (this.fullBytes > 0 && this.fd >= 0) {
      try { for (const c of this.full) writeAllSync(this.fd, c); } catch { /* nothing left to do */ }
    }
    this.full = [];
    this.fullBytes = 0;
    if (this.fd > 2 && !this.writing) { closeSync(this.fd); this.fd = -1; }
  }
}

function writeAllSync(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

function countLines(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) n++;
  return n;
}

/** The trace id of an unsampled request: the client's, or the gateway's request id when it started the trace. */
function traceIdOf(tp: string | string[] | undefined, ctx: RequestContext): string | undefined {
  if (typeof tp === 'string') {
    const m = TRACEPARENT_TRACE.exec(tp);
    if (m !== null) return m[1];
  }
  return ctx.ownId ? ctx.id : undefined;
}
