/**
 * One request model for HTTP/1.1 and HTTP/2: the HTTP/2 server hands the pipeline Node's
 * compat request/response, subclassed so they look like HTTP/1.1 ones to every policy,
 * the router, the cache and the logs:
 * - pseudo-headers leave `headers` / `rawHeaders`; `:authority` becomes `host` (RFC 9113
 *   §8.3.1), so routing, X-Forwarded-Host and header policies read the same names;
 * - connection-specific headers (Connection, Keep-Alive, Transfer-Encoding, Upgrade,
 *   Proxy-Connection) are illegal in an HTTP/2 response (RFC 9113 §8.2.2): writeHead drops
 *   them instead of failing the response;
 * - the response counts the body bytes it writes (`bytesOut`, the access log's): the
 *   connection's byte count that `socket.bytesWritten` reads is shared by every stream on it.
 */
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import type { ServerHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';

const H2_ILLEGAL = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class GatewayH2Request extends http2.Http2ServerRequest {
  private readonly plain: IncomingHttpHeaders;
  private readonly plainRaw: string[];
  private h2url: string;
  private readonly h2method: string;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    super(stream, headers, options as never, rawHeaders);
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
    this.plain = plain;
    this.plainRaw = raw;
    this.h2url = (headers[':path'] as string | undefined) ?? '/';
    this.h2method = websocket ? 'GET' : (headers[':method'] as string | undefined) ?? 'GET';
    this.upgrade = websocket;
  }

  /** An RFC 8441 WebSocket (extended CONNECT): the pipeline tunnels it as an HTTP/1.1 upgrade. */
  upgrade: boolean;

  static {
    // Node's typings declare these as fields; they are accessors reading the pseudo-headers.
    Object.defineProperties(this.prototype, {
      headers: { get(this: GatewayH2Request) { return this.plain; }, set() { /* read-only view */ }, configurable: true },
      rawHeaders: { get(this: GatewayH2Request) { return this.plainRaw; }, configurable: true },
      url: { get(this: GatewayH2Request) { return this.h2url; }, set(this: GatewayH2Request, v: string) { this.h2url = v; }, configurable: true },
      method: { get(this: GatewayH2Request) { return this.h2method; }, set() { /* fixed by the stream */ }, configurable: true },
    });
  }
}

function dropIllegal(headers: unknown): unknown {
  if (headers === undefined || headers === null) return headers;
  if (Array.isArray(headers)) {
    const flat = headers as string[];
    let bad = false;
    for (let i = 0; i < flat.length; i += 2) if (H2_ILLEGAL.has(String(flat[i]).toLowerCase())) { bad = true; break; }
    if (!bad) return headers;
    const out: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (!H2_ILLEGAL.has(String(flat[i]).toLowerCase())) out.push(flat[i]!, flat[i + 1]!);
    return out;
  }
  const o = headers as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k in o) {
    if (H2_ILLEGAL.has(k.toLowerCase())) { copy ??= { ...o }; delete copy[k]; }
  }
  return copy ?? o;
}

function hasGrpcStatus(headers: unknown): boolean {
  if (headers === undefined || headers === null) return false;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'grpc-status') return true;
    return false;
  }
  return (headers as Record<string, unknown>)['grpc-status'] !== undefined;
}

export class GatewayH2Response extends http2.Http2ServerResponse {
  /** HTTP/1.1's keep-alive flag: meaningless on a stream, accepted so shared code can set it. */
  shouldKeepAlive = true;
  /** A gRPC trailers-only response went out as one HEADERS frame with END_STREAM. */
  private trailersOnly = false;
  /**
   * Body bytes written on this stream (DATA payload). The head is not counted: HPACK codes
   * it against the connection's table, so it has no size of its own.
   */
  bytesOut = 0;

  override writeHead(statusCode: number, a?: unknown, b?: unknown): this {
    const headers = dropIllegal(typeof a === 'string' ? b : a);
    // grpc-status in the response head is gRPC's trailers-only form: it must be one HEADERS
    // frame with END_STREAM (a client reading an empty DATA frame after it sees a broken call).
    if (hasGrpcStatus(headers) && !this.stream.headersSent && !this.stream.destroyed) {
      const h: Record<string, string | string[]> = { ':status': String(statusCode) };
      if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) h[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
      else for (const k in headers as Record<string, string>) { if (k.toLowerCase() !== 'content-length') h[k.toLowerCase()] = (headers as Record<string, string>)[k]!; }
      delete h['content-length'];
      this.trailersOnly = true;
      this.stream.respond(h, { endStream: true });
      return this;
    }
    return typeof a === 'string' ? super.writeHead(statusCode, a, headers as never) : super.writeHead(statusCode, headers as never);
  }

  /** `102 Processing` as an interim HEADERS frame (Node's HTTP/2 response has no writeProcessing; HTTP/1.1's has). */
  writeProcessing(): void {
    if (this.stream.headersSent || this.stream.destroyed) return;
    this.stream.additionalHeaders({ ':status': 102 });
  }

  // end(chunk) writes its chunk through write(): every body byte is counted here.
  override write(chunk: unknown, a?: unknown, b?: unknown): boolean {
    if (this.trailersOnly) return true;
    if (typeof chunk === 'string') this.bytesOut += Buffer.byteLength(chunk, typeof a === 'string' ? a as BufferEncoding : 'utf8');
    else if (chunk instanceof Uint8Array) this.bytesOut += chunk.byteLength;
    return super.write(chunk as never, a as never, b as never);
  }

  override end(a?: unknown, b?: unknown, c?: unknown): this {
    if (this.trailersOnly) { if (typeof a === 'function') (a as () => void)(); return this; }
    return super.end(a as never, b as never, c as never);
  }
}

/** The stream behind a compat request (HTTP/2), or undefined for an HTTP/1.1 request. */
export function h2StreamOf(req: object): (ServerHttp2Stream & Readable) | undefined {
  return req instanceof http2.Http2ServerRequest ? req.stream as ServerHttp2Stream & Readable : undefined;
}
