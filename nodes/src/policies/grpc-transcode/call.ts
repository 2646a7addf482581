/**
 * One transcoded call: HTTP request → gRPC request message → upstream call → JSON answer.
 *
 * The transcoder is the route's terminal step: it answers the request itself, as a
 * LocalReply (unary) or a LocalReply with a `stream` (server streaming: NDJSON, or
 * text/event-stream when the client's Accept asks for it), so every policy before it
 * (auth, ACL, rate limits) has already run and the response goes through the same reply
 * path (X-Request-Id, response hooks, metrics, access log) as any other.
 */
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type protobuf from 'protobufjs';
import type { LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { traceparent } from '../../http/ids.ts';
import { readBody, parseMediaType, isJsonMediaType, hasBody } from '../validate/body.ts';
import { messageToJson, fieldToJson, type PrintOptions } from '../../protos/json.ts';
import { reservedResponseKey } from '../../protos/client.ts';
import { GrpcCall, type GrpcCallOwner, type GrpcPools, type GrpcStatus } from '../../upstream/h2/grpc-call.ts';
import type { H2Pool } from '../../upstream/h2/pool.ts';
import { decodeDetails, grpcProblem, httpStatusOf, CODE_NAMES, Code } from '../../protos/status.ts';
import type { Binding } from './bindings.ts';
import { buildMessage, type QueryOptions, type PartIssue } from './request.ts';
import type { Counter } from 'prom-client';

export interface Settings {
  root: protobuf.Root;
  print: PrintOptions;
  query: QueryOptions;
  requestHeaders: readonly string[];
  /** undefined: every non-reserved entry */
  responseHeaders: ReadonlySet<string> | undefined;
  maxMessageSize: number;
  timeout: number | undefined;
  pools: GrpcPools;
  calls: Counter<'route' | 'method' | 'code'>;
  route: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

function invalid(errors: PartIssue[]): LocalReply {
  return { code: 'GW_VALIDATION_FAILED', extra: { errors } };
}

/** Split NDJSON into values; undefined plus the line number of the first bad line. */
function ndjson(text: string): { values: unknown[]; bad?: number } {
  const values: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l) continue;
    try { values.push(JSON.parse(l)); } catch { return { values, bad: i + 1 }; }
  }
  return { values };
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export async function transcode(ctx: RequestContext, b: Binding, groups: RegExpExecArray, s: Settings): Promise<LocalReply> {
  const mi = b.method;
  // 1. The body: raw (HttpBody), NDJSON (client streaming), or one JSON value.
  let raw: { data: Buffer; contentType: string } | undefined;
  let json: unknown;
  let stream: unknown[] | undefined;
  if (b.body !== undefined || mi.clientStream) {
    let data = ctx.body;
    if (data === undefined && hasBody(ctx.req)) {
      const r = await readBody(ctx.req, s.maxMessageSize, false);
      if (r === 'too-large') return { code: 'GW_PAYLOAD_TOO_LARGE', detail: `The body is larger than ${s.maxMessageSize} bytes` };
      if (r === 'aborted') return { code: 'GW_BAD_REQUEST', detail: 'The request body was cut short' };
      data = r;
    }
    if (data !== undefined && data.length > s.maxMessageSize) return { code: 'GW_PAYLOAD_TOO_LARGE', detail: `The body is larger than ${s.maxMessageSize} bytes` };
    const ct = ctx.req.headers['content-type'];
    const media = parseMediaType(ct);
    if (b.rawBody) {
      raw = { data: data ?? Buffer.alloc(0), contentType: ct ?? 'application/octet-stream' };
    } else if (data !== undefined && data.length) {
      if (ct !== undefined && (!media || !(isJsonMediaType(media.essence) || media.essence === 'application/x-ndjson'))) {
        return { code: 'GW_UNSUPPORTED_MEDIA_TYPE', detail: 'The body must be application/json (or application/x-ndjson for a client stream)' };
      }
      const text = data.toString('utf8');
      if (mi.clientStream) {
        const r = ndjson(text);
        if (r.bad !== undefined) return invalid([{ in: 'body', path: `(line ${r.bad})`, message: 'malformed JSON' }]);
        stream = r.values;
      } else {
        try { json = JSON.parse(text); } catch { return invalid([{ in: 'body', path: '', message: 'malformed JSON' }]); }
      }
    } else if (mi.clientStream) stream = [];
  }
  // 2. The request message(s).
  const q = ctx.rawQuery ? ctx.searchParams : undefined;
  const messages: Buffer[] = [];
  const inputs = stream ?? [json];
  for (let i = 0; i < inputs.length; i++) {
    const built = buildMessage(b, groups, i === 0 ? q : undefined, inputs[i], raw, s.query, s.root);
    if (Array.isArray(built)) {
      return invalid(stream ? built.map((e) => ({ ...e, path: `(message ${i + 1})${e.path ? '.' + e.path : ''}` })) : built);
    }
    let bytes: Buffer;
    try { bytes = toBuffer(mi.requestType.encode(built.message).finish()); } catch { return invalid([{ in: 'body', path: '', message: 'cannot be encoded as ' + mi.requestType.fullName.slice(1) }]); }
    if (bytes.length > s.maxMessageSize) return { code: 'GW_PAYLOAD_TOO_LARGE', detail: `The request message is larger than ${s.maxMessageSize} bytes` };
    messages.push(bytes);
  }
  // 3. The upstream call.
  const up = ctx.upstream ?? ctx.route?.upstream;
  if (!up) return { code: 'GW_ROUTE_NOT_FOUND', detail: 'Route has no upstream' };
  const target = up.pick(ctx);
  if (!target) return up.noTargetReply();
  const ticket = up.ticket;
  const breaker = ticket >= 0 ? target.breaker : undefined;
  ctx.target = target.origin;
  const md: string[] = [];
  const h = ctx.req.headers;
  for (const name of s.requestHeaders) {
    const v = h[name];
    if (typeof v === 'string') md.push(name, v);
    else if (Array.isArray(v)) for (const x of v) md.push(name, x);
  }
  md.push('x-request-id', ctx.id);
  // A sampled request gets a client span for the call (request/tracing.ts); its traceparent names it.
  const trace = ctx.trace;
  md.push('traceparent', trace !== undefined ? trace.startGrpcCall(mi.path, up.name, target) : traceparent(h.traceparent, ctx.ownId ? ctx.id : undefined));
  const timeout = s.timeout ?? up.responseTimeout;
  const pool = s.pools.forTarget(target);
  const call = new Call(ctx, b, s);
  // The client span ends with the call's status: for a server stream, when the stream ends.
  if (trace !== undefined) call.onEnd = (code) => trace.endGrpcCall(code, CODE_NAMES[code] ?? 'UNKNOWN');
  target.inflight++;
  ctx.upstreamStart = performance.now();
  const reply = await call.run(pool, md, messages, timeout);
  target.inflight--;
  ctx.upstreamEnd = performance.now();
  // A breaker learns from transport failures only; a gRPC error status is the service's answer.
  if (breaker) breaker.record(ticket, call.transportFailure, ctx.upstreamEnd - ctx.upstreamStart);
  s.calls.labels(s.route, mi.fullName, CODE_NAMES[call.code] ?? 'UNKNOWN').inc();
  return reply;
}

/** One upstream call (upstream/h2/grpc-call.ts) and what it becomes: a LocalReply, or a stream of JSON lines. */
class Call implements GrpcCallOwner {
  code = 0;
  /** No response head came back: the target never answered (connect error, our deadline). */
  transportFailure = false;
  /** Called once with the call's final gRPC status code. */
  onEnd: ((code: number) => void) | undefined = undefined;
  private headers: Record<string, string> | undefined = undefined;
  private readonly ctx: RequestContext;
  private readonly b: Binding;
  private readonly s: Settings;
  private readonly call: GrpcCall;
  private resolve: ((r: LocalReply) => void) | undefined = undefined;
  /** Unary: the one response message. */
  private message: Buffer | undefined = undefined;
  private messages = 0;
  /** Server streaming: the JSON lines, once the first message (or the end) came. */
  private out: PassThrough | undefined = undefined;
  private readonly sse: boolean;

  constructor(ctx: RequestContext, b: Binding, s: Settings) {
    this.ctx = ctx; this.b = b; this.s = s;
    this.call = new GrpcCall(this, s.maxMessageSize);
    this.sse = (ctx.req.headers.accept ?? '').includes('text/event-stream');
  }

  run(pool: H2Pool, md: string[], messages: Buffer[], timeout: number): Promise<LocalReply> {
    return new Promise<LocalReply>((resolve) => {
      this.resolve = resolve;
      // The client left: cancel upstream work nobody will read.
      if (!this.b.method.serverStream) this.ctx.res.once('close', () => { if (!this.ctx.res.writableFinished) this.call.cancel(); });
      this.call.start(pool, this.b.method.path, md, messages, timeout);
    });
  }

  private settle(r: LocalReply): void {
    const f = this.resolve;
    this.resolve = undefined;
    f?.(r);
  }

  onMetadata(md: Record<string, string>): void { this.headers = md; }

  onMessage(buf: Buffer): void {
    this.messages++;
    if (!this.b.method.serverStream) { this.message = buf; return; }
    const o = this.out ?? this.startStream();
    const t = this.b.method.responseType;
    let text: string;
    try {
      text = JSON.stringify(messageToJson(t, t.decode(buf) as unknown as Record<string, unknown>, this.s.print, this.s.root));
    } catch {
      this.call.cancel();
      return;
    }
    o.write(this.sse ? `data: ${text}\n\n` : `${text}\n`);
  }

  onStatus(st: GrpcStatus): void {
    this.code = st.code;
    this.onEnd?.(st.code);
    if (this.b.method.serverStream) { this.endStream(st); return; }
    if (st.code !== Code.OK) { this.settle(this.failure(st)); return; }
    if (this.messages !== 1) {
      this.code = Code.INTERNAL;
      this.settle({ code: 'GW_UPSTREAM_BAD_RESPONSE', detail: `The gRPC call answered ${this.messages} messages, not one` });
      return;
    }
    this.settle(this.unary(this.message!));
  }

  private unary(res: Buffer): LocalReply {
    const headers = this.responseHeaders(this.headers);
    const b = this.b, s = this.s;
    let msg: Record<string, unknown>;
    try { msg = b.method.responseType.decode(res) as unknown as Record<string, unknown>; } catch {
      return { code: 'GW_UPSTREAM_BAD_RESPONSE', detail: 'The gRPC response could not be decoded' };
    }
    if (b.rawResponse) {
      const hb = (b.responseBody ? msg[b.responseBody.name] : msg) as { content_type?: string; data?: Uint8Array } | undefined;
      headers['content-type'] = hb?.content_type || 'application/octet-stream';
      return { status: 200, headers, body: hb?.data ? toBuffer(hb.data) : Buffer.alloc(0), translated: true };
    }
    let out: unknown;
    if (b.responseBody) {
      const f = b.responseBody;
      out = fieldToJson(f, Object.prototype.hasOwnProperty.call(msg, f.name) ? msg[f.name] : undefined, s.print, s.root);
    } else out = messageToJson(b.method.responseType, msg, s.print, s.root);
    headers['content-type'] = JSON_HEADERS['content-type'];
    // grpc-status 0: the service's answer, which a cache on the route may store (core/reply.ts).
    return { status: 200, headers, body: JSON.stringify(out), translated: true };
  }

  private failure(st: GrpcStatus): LocalReply {
    const code = st.code;
    // Statuses the call makes itself when no response came: the client gets the gateway's
    // own catalogue error (its text never names the target).
    // A deadline is the gateway's (timeout) or the upstream's: too slow either way.
    if (code === Code.DEADLINE_EXCEEDED) { this.transportFailure = true; return { code: 'GW_UPSTREAM_TIMEOUT' }; }
    if (this.call.headless && (code === Code.UNAVAILABLE || code === Code.CANCELLED || code === Code.INTERNAL || code === Code.UNKNOWN)
      && Object.keys(st.trailers).length === 0) {
      this.transportFailure = true;
      return { code: 'GW_UPSTREAM_UNAVAILABLE' };
    }
    if (code === Code.RESOURCE_EXHAUSTED && /max|larger|size/i.test(st.details) && this.headers !== undefined) {
      return { code: 'GW_UPSTREAM_BAD_RESPONSE', detail: 'The gRPC response is larger than the configured maxMessageSize' };
    }
    const bin = st.trailers['grpc-status-details-bin'];
    const details = decodeDetails(bin === undefined ? undefined : Buffer.from(bin, 'base64'), this.s.root, this.s.print);
    const headers = this.responseHeaders(this.headers, st.trailers);
    headers['content-type'] = 'application/problem+json';
    return { status: httpStatusOf(code), headers, body: grpcProblem(code, st.details, details, this.ctx.id) };
  }

  private responseHeaders(head: Record<string, string> | undefined, trailers?: Record<string, string>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const allow = this.s.responseHeaders;
    for (const m of [head, trailers]) {
      if (!m) continue;
      for (const k in m) {
        if (reservedResponseKey(k) || (allow && !allow.has(k))) continue;
        out[k] = m[k]!;
      }
    }
    return out;
  }

  /** The first message of a server stream: the response starts (200, NDJSON or SSE). */
  private startStream(): PassThrough {
    const out = this.out = new PassThrough();
    const headers = this.responseHeaders(this.headers);
    headers['content-type'] = this.sse ? 'text/event-stream' : 'application/x-ndjson';
    headers['cache-control'] = 'no-cache';
    // The client went away: stop the upstream stream.
    out.once('close', () => { this.call.cancel(); });
    this.settle({ status: 200, headers, stream: out });
    return out;
  }

  private endStream(st: GrpcStatus): void {
    const out = this.out;
    if (st.code === Code.OK) { (out ?? this.startStream()).end(); return; }
    if (out === undefined) { this.settle(this.failure(st)); return; }
    if (st.code === Code.CANCELLED && out.destroyed) return;
    // Mid-stream failure: the status is already 200, so the error is the stream's last item.
    const bin = st.trailers['grpc-status-details-bin'];
    const problem = grpcProblem(st.code, this.headers === undefined ? '' : st.details, decodeDetails(bin === undefined ? undefined : Buffer.from(bin, 'base64'), this.s.root, this.s.print), this.ctx.id);
    out.end(this.sse ? `event: error\ndata: ${problem}\n\n` : `{"error":${problem}}\n`);
  }
}
