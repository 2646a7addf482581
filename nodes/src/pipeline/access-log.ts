/**
 * The access log: one JSON line per request, built straight into a string (no log object,
 * no child logger, no serializer per request) and appended to a pending batch that is
 * written at 64 KiB or at least once a second, one write at a time. Sampling drops a share
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
import { closeSync, openSync, renameSync, statSync, write, writeSync } from 'node:fs';
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

const FLUSH_AT = 64 * 1024;
const MAX_PENDING = 8 * 1024 * 1024;
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029]/;
const OUT = Symbol('gatehouse.bytesWritten');
const TRACEPARENT_TRACE = /^00-([0-9a-f]{32})-/;

/** A JSON string literal: quoted as is when nothing needs escaping (the common case). */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const ms3 = (x: number): number => Math.round(x * 1000) / 1000;

export class AccessLogger {
  private readonly enabled: boolean;
  private readonly sample: number;
  private readonly sink: LineSink | undefined;
  private readonly file: string | undefined;
  private readonly maxSize: number;
  private readonly redact: ReadonlySet<string>;
  private fd = -1;
  private fileBytes = 0;
  private pending = '';
  private writing = false;
  private lastMs = 0;
  private lastIso = '';
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
    const status = ctx.status;
    const code = ctx.errorCode;
    if (status < 500 && code === undefined && this.sample < 1 && Math.random() >= this.sample) return;
    if (this.pending.length > MAX_PENDING) { this.dropped++; return; }
    const wall = Date.now();
    if (wall !== this.lastMs) { this.lastMs = wall; this.lastIso = new Date(wall).toISOString(); }
    const req = ctx.req;
    const route = ctx.route;
    const consumer = ctx.consumer;
    const sock = req.socket as typeof req.socket & { [OUT]?: number };
    // An HTTP/2 stream has no socket of its own (listeners/h2-compat.ts): no byte count there.
    const written = sock?.bytesWritten;
    let out = 0;
    if (typeof written === 'number') { out = written - (sock[OUT] ?? 0); sock[OUT] = written; }
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
    this.pending += `${line}}\n`;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

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
    if (this.pending.length === 0) return;
    if (this.writing) { this.again = true; return; }
    const chunk = this.pending;
    this.pending = '';
    if (this.sink !== undefined) { this.sink.write(chunk); return; }
    if (this.fd < 0) return;
    this.writing = true;
    write(this.fd, chunk, null, 'utf8', (err, n) => {
      this.writing = false;
      if (this.closeAfterWrite > 2) { try { closeSync(this.closeAfterWrite); } catch { /* already closed */ } this.closeAfterWrite = -1; }
      if (err) { this.dropped += countLines(chunk); return; }
      this.fileBytes += n;
      if (this.file !== undefined && this.maxSize > 0 && this.fileBytes >= this.maxSize) this.rotate();
      if (this.again || this.pending.length >= FLUSH_AT) { this.again = false; this.flush(); }
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
    if (this.pending.length > 0 && this.fd >= 0) {
      try { writeAllSync(this.fd, this.pending); } catch { /* nothing left to do */ }
      this.pending = '';
    }
    if (this.fd > 2 && !this.writing) { closeSync(this.fd); this.fd = -1; }
  }
}

function writeAllSync(fd: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off);
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
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
