/**
 * One request model for HTTP/1.1 and HTTP/2: an HTTP/2 stream (h2-wire.ts) reaches the
 * pipeline as a request/response pair shaped like HTTP/1.1's (the fields and methods the
 * pipeline, the policies, the cache and the logs use). No compatibility layer (decision
 * 0012): Node's made a Readable and a Writable around every stream (~13 listeners), copied
 * the headers three times and always waited for trailers.
 * - Request: pseudo-headers leave `headers` / `rawHeaders`; `:authority` becomes `host`
 *   (RFC 9113 §8.3.1), so routing, X-Forwarded-Host and header policies read the same names.
 *   The body is the stream itself: `on`, `pipe`, `pause`, ... go to it (no second Readable).
 * - Response: `writeHead` sends the HEADERS frame (lower-case names; connection-specific
 *   fields, illegal in HTTP/2 (RFC 9113 §8.2.2), dropped instead of failing the response);
 *   `write` / `end` go to the stream; trailers are waited for only when the client said it
 *   takes them (`TE: trailers`, as every gRPC client does), so other responses end with
 *   their last DATA frame. Events (`drain`, `close`, `finish`, `error`) are the stream's.
 * - The response counts the body bytes it writes (`bytesOut`, the access log's): the
 *   connection's byte count is shared by every stream on it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http2';
import type { ServerStream } from './h2-wire.ts';
import type { Socket } from 'node:net';

/**
 * The connection's own socket, set on a session by the HTTP/2 front (h2.ts): the pipeline
 * reads the peer address from it, also after the session is gone (the access log of a
 * request cut by its client).
 */
export const RAW_SOCKET = Symbol('gatehouse.h2socket');

const H2_ILLEGAL = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
type Listener = (...args: any[]) => void;
type Chunk = string | Uint8Array;

/** What the request and the response share: the stream, whose events are theirs. */
class StreamSide {
  readonly stream: ServerStream;
  constructor(stream: ServerStream) { this.stream = stream; }
  get destroyed(): boolean { return this.stream.destroyed; }
  on(event: string, fn: Listener): this { this.stream.on(event, fn); return this; }
  once(event: string, fn: Listener): this { this.stream.once(event, fn); return this; }
  off(event: string, fn: Listener): this { this.stream.off(event, fn); return this; }
  removeListener(event: string, fn: Listener): this { this.stream.off(event, fn); return this; }
}

export class H2Request extends StreamSide {
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  /** The connection's socket (shared by every stream on it). */
  readonly socket: Socket;
  url: string;
  method: string;
  /** An RFC 8441 WebSocket (extended CONNECT): the pipeline tunnels it as an HTTP/1.1 upgrade. */
  readonly upgrade: boolean;
  readonly httpVersion = '2.0';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;

  constructor(stream: ServerStream, headers: IncomingHttpHeaders | Record<string, string | string[]>, rawHeaders: string[]) {
    super(stream);
    const session = stream.session as ServerStream['session'] & { [RAW_SOCKET]?: Socket };
    this.socket = session[RAW_SOCKET] ?? session.socket;
    const plain: IncomingHttpHeaders = {};
    let authority: string | undefined;
    for (const k in headers) {
      if (k.charCodeAt(0) === 58 /* : */) { if (k === ':authority') authority = headers[k] as string; continue; }
      (plain as Record<string, unknown>)[k] = headers[k];
    }
    if (authority !== undefined) plain.host = authority;
    // WebSocket over HTTP/2 (RFC 8441 extended CONNECT) looks like an HTTP/1.1 upgrade to the
    // pipeline: GET with Upgrade: websocket; the key the HTTP/2 form has no use for is made
    // here for the upstream's HTTP/1.1 handshake.
    const websocket = headers[':method'] === 'CONNECT' && headers[':protocol'] === 'websocket';
    if (websocket) {
      plain.upgrade = 'websocket';
      plain.connection = 'Upgrade';
      plain['sec-websocket-key'] = randomBytes(16).toString('base64');
    } else if (plain['content-length'] === undefined && !stream.endAfterHeaders) {
      // A body without content-length (legal in HTTP/2, usual for gRPC) is forwarded as the
      // pipeline forwards a chunked HTTP/1.1 body: streamed, counted against the size limit.
      plain['transfer-encoding'] = 'chunked';
    }
    const raw: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const k = rawHeaders[i]!;
      if (k.charCodeAt(0) === 58) continue;
      if (authority !== undefined && k === 'host') continue;
      raw.push(k, rawHeaders[i + 1]!);
    }
    if (authority !== undefined) raw.push('host', authority);
    if (websocket) raw.push('upgrade', 'websocket', 'connection', 'Upgrade', 'sec-websocket-key', plain['sec-websocket-key'] as string);
    this.headers = plain;
    this.rawHeaders = raw;
    this.url = (headers[':path'] as string | undefined) ?? '/';
    this.method = websocket ? 'GET' : (headers[':method'] as string | undefined) ?? 'GET';
    this.upgrade = websocket;
  }

  // The body: the stream's readable side.
  get complete(): boolean { return this.stream.readableEnded; }
  get readableEnded(): boolean { return this.stream.readableEnded; }
  get readableFlowing(): boolean | null { return this.stream.readableFlowing; }
  pipe<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T { return this.stream.pipe(dest, opts); }
  pause(): this { this.stream.pause(); return this; }
  resume(): this { this.stream.resume(); return this; }
  unshift(chunk: Buffer): void { this.stream.unshift(chunk); }
  read(n?: number): unknown { return this.stream.read(n); }
  destroy(err?: Error): this { this.stream.destroy(err); return this; }
}

/** A link of h2.ts's OpenStreams list: a response, or the list's head. */
export interface OpenLink { nextOpen: H2Response | undefined }

/** One header field onto a flat HTTP/2 list: lower-case, connection-specific ones dropped. True for grpc-status. */
function pushField(out: string[], k: string, v: unknown): boolean {
  const name = k.toLowerCase();
  if (H2_ILLEGAL.has(name)) return false;
  if (Array.isArray(v)) for (const one of v) out.push(name, String(one));
  else if (v !== undefined) out.push(name, String(v));
  return name === 'grpc-status';
}

const RESPONSE = Symbol('gatehouse.h2response');
type Carrying = ServerStream & { [RESPONSE]?: H2Response };

/** The stream's `wantTrailers`: the trailers the upstream sent (an empty set ends the stream). */
function onWantTrailers(this: Carrying): void {
  const res = this[RESPONSE];
  this[RESPONSE] = undefined;
  this.sendTrailers(res?.trailers ?? {});
}

export class H2Response extends StreamSide {
  statusCode = 200;
  /** HTTP/1.1's keep-alive flag: meaningless on a stream, accepted so shared code can set it. */
  shouldKeepAlive = true;
  /**
   * Body bytes written on this stream (DATA payload). The head is not counted: HPACK codes
   * it against the connection's table, so it has no size of its own.
   */
  bytesOut = 0;
  /** Trailers to send after the body (addTrailers); only when the client takes them. */
  trailers: Record<string, string> | undefined = undefined;
  /** Links in the HTTP/2 front's list of streams not yet given an idle timer (h2.ts OpenStreams), and the sweep it came in. */
  prevOpen: OpenLink | undefined = undefined;
  nextOpen: H2Response | undefined = undefined;
  born = 0;
  private responded = false;
  /** A gRPC trailers-only response went out as one HEADERS frame with END_STREAM. */
  private trailersOnly = false;
  private readonly withTrailers: boolean;

  constructor(stream: ServerStream, te: string | undefined) {
    super(stream);
    this.withTrailers = te !== undefined && te.toLowerCase().includes('trailers');
  }

  get headersSent(): boolean { return this.responded; }
  get writableEnded(): boolean { return this.stream.writableEnded; }
  get writableFinished(): boolean { return this.stream.writableFinished; }
  get writableLength(): number { return this.stream.writableLength; }
  get writableNeedDrain(): boolean { return this.stream.writableNeedDrain; }

  /**
   * Sends the HEADERS frame now (as Node's HTTP/2 response does), so a header Node refuses
   * throws here, where the pipeline expects it. `headers`: a flat list or an object.
   */
  writeHead(statusCode: number, a?: unknown, b?: unknown): this {
    const src = typeof a === 'string' ? b : a;
    if (this.responded) throw Object.assign(new Error('Cannot write headers after they are sent'), { code: 'ERR_HTTP2_HEADERS_SENT' });
    this.statusCode = statusCode;
    // The client reset the stream: nothing can be sent any more (as Node's HTTP/2 response, no error).
    if (this.stream.destroyed || this.stream.closed) { this.responded = true; return this; }
    const out: string[] = [':status', String(statusCode)];
    let grpcStatus = false;
    if (Array.isArray(src)) { for (let i = 0; i < src.length; i += 2) if (pushField(out, String(src[i]), src[i + 1])) grpcStatus = true; }
    else if (src !== undefined && src !== null) for (const k in src as Record<string, unknown>) if (pushField(out, k, (src as Record<string, unknown>)[k])) grpcStatus = true;
    const stream = this.stream as Carrying;
    // grpc-status in the response head is gRPC's trailers-only form: one HEADERS frame with
    // END_STREAM (a client reading an empty DATA frame after it sees a broken call).
    if (grpcStatus) {
      let w = 2;
      for (let i = 2; i < out.length; i += 2) if (out[i] !== 'content-length') { out[w++] = out[i]!; out[w++] = out[i + 1]!; }
      out.length = w;
      stream.respond(out as never, { endStream: true });
      this.trailersOnly = true;
      this.responded = true;
      return this;
    }
    stream.respond(out as never, { waitForTrailers: this.withTrailers });
    if (this.withTrailers) {
      stream[RESPONSE] = this;
      stream.once('wantTrailers', onWantTrailers);
    }
    this.responded = true;
    return this;
  }

  write(chunk: Chunk, a?: unknown, b?: unknown): boolean {
    if (this.trailersOnly || this.stream.destroyed) return true;
    if (!this.responded) this.writeHead(this.statusCode);
    this.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof a === 'string' ? a as BufferEncoding : 'utf8') : chunk.byteLength;
    return this.stream.write(chunk, a as never, b as never);
  }

  end(a?: unknown, b?: unknown, c?: unknown): this {
    let chunk: Chunk | undefined;
    let cb: (() => void) | undefined;
    if (typeof a === 'function') cb = a as () => void;
    else { chunk = a as Chunk | undefined; cb = (typeof b === 'function' ? b : c) as (() => void) | undefined; }
    if (!this.responded) this.writeHead(this.statusCode);
    // Nothing more to send: trailers-only, ended by the head (HEAD, 204, 304), or reset.
    if (this.trailersOnly || this.stream.writableEnded || this.stream.destroyed || this.stream.closed) { cb?.(); return this; }
    if (chunk !== undefined && chunk !== null) {
      this.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof b === 'string' ? b as BufferEncoding : 'utf8') : chunk.byteLength;
      if (typeof b === 'string') this.stream.end(chunk, b as BufferEncoding, cb);
      else this.stream.end(chunk, cb);
    } else this.stream.end(cb);
    return this;
  }

  addTrailers(t: Record<string, string | string[]>): void {
    const out = this.trailers ??= {};
    for (const k in t) { const v = t[k]!; out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v); }
  }

  flushHeaders(): void { if (!this.responded) this.writeHead(this.statusCode); }

  /** Interim responses (RFC 9110 §15.2) as extra HEADERS frames before the final one. */
  writeContinue(): void { this.interim({ ':status': 100 }); }
  writeProcessing(): void { this.interim({ ':status': 102 }); }
  writeEarlyHints(hints: Record<string, string | string[]>): void {
    const h: Record<string, string | string[] | number> = { ':status': 103 };
    for (const k in hints) { const name = k.toLowerCase(); if (!H2_ILLEGAL.has(name)) h[name] = hints[k]!; }
    this.interim(h);
  }

  private interim(h: Record<string, string | string[] | number>): void {
    if (this.responded || this.stream.headersSent || this.stream.destroyed) return;
    this.stream.additionalHeaders(h as never);
  }

  destroy(err?: Error): void { if (!this.stream.destroyed) this.stream.destroy(err); }

  // Events are the stream's (drain, close, finish, error; pipe / unpipe from Readable#pipe).
  prependListener(event: string, fn: Listener): this { this.stream.prependListener(event, fn); return this; }
  emit(event: string, ...args: unknown[]): boolean { return this.stream.emit(event, ...args); }
  listenerCount(event: string): number { return this.stream.listenerCount(event); }
}
