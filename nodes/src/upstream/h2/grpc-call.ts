/**
 * gRPC calls for protocol conversion (policies/grpc-transcode) over the gateway's own HTTP/2 client
 * (upstream/h2, decision 0013) instead of @grpc/grpc-js channels: the same client the gRPC
 * pass-through uses, at a third of grpc-js's cost per call (docs/benchmarks.md).
 *
 * A call's request messages are all known when it starts (the transcoder reads the whole
 * body first), so every kind (unary, client, server and bidirectional streaming) is one
 * HTTP/2 request: the framed messages as the body, then response messages as they arrive
 * and a status. gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md):
 * - request: POST, `content-type: application/grpc`, `te: trailers`, `grpc-timeout` (the
 *   pool also holds the call to it: DEADLINE_EXCEEDED), metadata as headers;
 * - response: HTTP 200 with `application/grpc*`, length-prefixed messages, `grpc-status` /
 *   `grpc-message` in the trailers (or in the head alone: trailers-only). Another HTTP
 *   status maps to a gRPC code as the spec's table says; a message over the size limit
 *   cancels the call (RESOURCE_EXHAUSTED); a compressed one is refused (we never offer an
 *   encoding).
 */
import { H2Pool } from './pool.ts';
import type { H1Control } from '../h1/pool.ts';

/** The gRPC status codes this client makes itself (the full table: protos/status.ts). */
const Code = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

export interface GrpcStatus {
  code: number;
  details: string;
  /** The trailers (or the trailers-only head): lower-case names, repeated values joined with ", ". */
  trailers: Record<string, string>;
}

/** What a call reports, in this order: metadata (once, when a 200 gRPC head came), messages, the status (once). */
export interface GrpcCallOwner {
  onMetadata(md: Record<string, string>): void;
  onMessage(msg: Buffer): void;
  onStatus(st: GrpcStatus): void;
}

/**
 * The pool a call goes over. An `h2c://` / `h2://` target already has one, made from its
 * upstream's settings (timeouts, TLS CA and server name, sessions, queue): the call uses it,
 * as pass-through does. An `http://` / `https://` target's own pool speaks HTTP/1.1, so
 * gRPC to it (prior-knowledge HTTP/2, or TLS with ALPN h2) gets a pool here, one per URL.
 */
export class GrpcPools {
  private readonly pools = new Map<string, H2Pool>();

  forTarget(t: { readonly url: string; readonly h1: unknown }): H2Pool {
    return t.h1 instanceof H2Pool ? t.h1 : this.get(t.url);
  }

  get(url: string): H2Pool {
    let p = this.pools.get(url);
    if (p !== undefined) return p;
    const u = new URL(url);
    const tls = u.protocol === 'https:' || u.protocol === 'h2:';
    const port = u.port || (tls ? '443' : '80');
    // Streams are bounded by the call's own deadline (grpc-timeout); the body timeout only
    // catches a server stream that went silent for longer than any deadline we send.
    // (A URL's hostname keeps an IPv6 address's brackets.)
    p = new H2Pool(`${tls ? 'h2' : 'h2c'}://${u.hostname}:${port}`, { connectTimeout: 5000, headersTimeout: 300_000, bodyTimeout: 300_000, sessions: 1 });
    this.pools.set(url, p);
    return p;
  }

  close(): void {
    for (const p of this.pools.values()) void p.close();
    this.pools.clear();
  }
}

/** gRPC's mapping of an HTTP status that is not 200 (PROTOCOL-HTTP2.md, "HTTP to gRPC Status Code Mapping"). */
function codeOfHttp(status: number): number {
  switch (status) {
    case 400: return Code.INTERNAL;
    case 401: return Code.UNAUTHENTICATED;
    case 403: return Code.PERMISSION_DENIED;
    case 404: return Code.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Code.UNAVAILABLE;
    default: return Code.UNKNOWN;
  }
}

function record(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    const v = fields[i + 1]!;
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  }
  return out;
}

/** grpc-message is percent-encoded on the wire. */
function decodeMessage(v: string | undefined): string {
  if (v === undefined) return '';
  try { return decodeURIComponent(v); } catch { return v; }
}

const EMPTY = Buffer.alloc(0);

/** One call. `cancel()` ends it with CANCELLED (the client went away). */
export class GrpcCall {
  private readonly owner: GrpcCallOwner;
  private readonly max: number;
  private control: H1Control | undefined = undefined;
  private pending: Buffer = EMPTY;
  private head: Record<string, string> | undefined = undefined;
  private trailers: Record<string, string> | undefined = undefined;
  /** The status when the call ended early (HTTP status, bad message); undefined while it runs. */
  private early: GrpcStatus | undefined = undefined;
  private done = false;

  constructor(owner: GrpcCallOwner, maxMessageSize: number) { this.owner = owner; this.max = maxMessageSize; }

  /**
   * Start the call. `metadata`: flat [name, value, ...] (lower-case names). `timeoutMs`: the
   * call's deadline, sent as grpc-timeout and kept by the pool.
   */
  start(pool: H2Pool, path: string, metadata: string[], messages: Buffer[], timeoutMs: number): void {
    const frames: Buffer[] = [];
    for (const m of messages) {
      const h = Buffer.allocUnsafe(5);
      h[0] = 0;
      h.writeUInt32BE(m.length, 1);
      frames.push(h, m);
    }
    const headers = ['content-type', 'application/grpc', 'grpc-timeout', `${Math.max(1, Math.ceil(timeoutMs))}m`, ...metadata];
    pool.dispatch({ method: 'POST', path, headers, checked: 0, body: Buffer.concat(frames), headersTimeout: timeoutMs + 1000 }, this);
  }

  cancel(): void { if (!this.done) this.control?.abort(); }

  // The pool's handler (H2Handler).
  onConnect(c: H1Control): void { this.control = c; }

  onHeaders(status: number, fields: string[]): boolean {
    const h = record(fields);
    if (status !== 200) {
      this.early = { code: codeOfHttp(status), details: `Received HTTP status code ${status}`, trailers: {} };
      return true;
    }
    if (!(h['content-type'] ?? '').startsWith('application/grpc')) {
      this.early = { code: Code.UNKNOWN, details: 'The upstream did not answer with gRPC', trailers: {} };
      return true;
    }
    this.head = h;
    // Trailers-only: the status is in the head; the stream ends with it.
    if (h['grpc-status'] !== undefined) this.trailers = h;
    this.owner.onMetadata(h);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.early !== undefined || this.done) return true;
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (len > this.max) { this.stop(Code.RESOURCE_EXHAUSTED, `Received message larger than max (${len} vs. ${this.max})`); return true; }
      if (buf[0] !== 0) { this.stop(Code.INTERNAL, 'Received a compressed message, but no encoding was offered'); return true; }
      if (buf.length < 5 + len) break;
      const msg = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      this.owner.onMessage(msg);
      if (this.done) return true;
    }
    this.pending = buf.length ? Buffer.from(buf) : EMPTY;
    return true;
  }

  onTrailers(fields: string[]): void { this.trailers = record(fields); }

  onComplete(tail?: Buffer): void {
    if (tail !== undefined) this.onData(tail);
    if (this.done) return;
    if (this.early !== undefined) { this.finish(this.early); return; }
    const t = this.trailers;
    const code = t?.['grpc-status'];
    if (code === undefined || !/^\d+$/.test(code)) { this.finish({ code: Code.UNKNOWN, details: 'The upstream ended the call without a gRPC status', trailers: t ?? {} }); return; }
    if (this.pending.length) { this.finish({ code: Code.INTERNAL, details: 'The upstream ended the call inside a message', trailers: t! }); return; }
    this.finish({ code: Number(code), details: decodeMessage(t!['grpc-message']), trailers: t! });
  }

  onError(err: Error): void {
    const c = (err as { code?: string }).code;
    const code = c === 'UND_ERR_ABORTED' ? Code.CANCELLED
      : c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT' ? Code.DEADLINE_EXCEEDED
        : Code.UNAVAILABLE;
    this.finish(this.early ?? { code, details: code === Code.CANCELLED ? 'Cancelled' : code === Code.DEADLINE_EXCEEDED ? 'Deadline Exceeded' : 'Upstream unavailable', trailers: {} });
  }

  /** No head with gRPC metadata came back: the target never answered as a gRPC server. */
  get headless(): boolean { return this.head === undefined; }

  private stop(code: number, details: string): void {
    this.finish({ code, details, trailers: {} });
    this.control?.abort();
  }

  private finish(st: GrpcStatus): void {
    if (this.done) return;
    this.done = true;
    this.pending = EMPTY;
    this.owner.onStatus(st);
  }
}
