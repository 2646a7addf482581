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
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { traceparent } from '../../http/ids.ts';
import { readBody, parseMediaType, isJsonMediaType, hasBody } from '../validate/body.ts';
import { messageToJson, fieldToJson, type PrintOptions } from '../../protos/json.ts';
import { grpcjs, identity, reservedResponseKey, type GrpcChannels } from '../../protos/client.ts';
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
  channels: GrpcChannels;
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
  const md = new (grpcjs().Metadata)();
  const h = ctx.req.headers;
  for (const name of s.requestHeaders) {
    const v = h[name];
    if (typeof v === 'string') md.set(name, v);
    else if (Array.isArray(v)) for (const x of v) md.add(name, x);
  }
  md.set('x-request-id', ctx.id);
  // A sampled request gets a client span for the call (request/tracing.ts); its traceparent names it.
  const trace = ctx.trace;
  md.set('traceparent', trace !== undefined ? trace.startGrpcCall(mi.path, up.name, target) : traceparent(h.traceparent, ctx.ownId ? ctx.id : undefined));
  const timeout = s.timeout ?? up.responseTimeout;
  const client = s.channels.get(target.url);
  const call = new Call(ctx, b, s, messages, timeout);
  // The client span ends with the call's status: for a server stream, when the stream ends.
  if (trace !== undefined) call.onStatus = (code) => trace.endGrpcCall(code, CODE_NAMES[code] ?? 'UNKNOWN');
  target.inflight++;
  ctx.upstreamStart = performance.now();
  const reply = await call.run(client, md);
  target.inflight--;
  ctx.upstreamEnd = performance.now();
  // A breaker learns from transport failures only; a gRPC error status is the service's answer.
  if (breaker) breaker.record(ticket, call.transportFailure, ctx.upstreamEnd - ctx.upstreamStart);
  s.calls.labels(s.route, mi.fullName, CODE_NAMES[call.code] ?? 'UNKNOWN').inc();
  return reply;
}

/** The state of one upstream call; methods instead of closures where grpc-js lets us. */
class Call {
  code = 0;
  /** No response head came back: the target never answered (connect error, our deadline). */
  transportFailure = false;
  /** Called once with the call's final gRPC status code (grpc-js 'status'). */
  onStatus: ((code: number) => void) | undefined = undefined;
  private headers: grpc.Metadata | undefined;
  private readonly ctx: RequestContext;
  private readonly b: Binding;
  private readonly s: Settings;
  private readonly messages: Buffer[];
  private readonly timeout: number;
  constructor(ctx: RequestContext, b: Binding, s: Settings, messages: Buffer[], timeout: number) {
    this.ctx = ctx; this.b = b; this.s = s; this.messages = messages; this.timeout = timeout;
  }

  run(client: grpc.Client, md: grpc.Metadata): Promise<LocalReply> {
    const mi = this.b.method;
    const opts: grpc.CallOptions = { deadline: Date.now() + this.timeout };
    return new Promise<LocalReply>((resolve) => {
      if (!mi.serverStream) {
        const cb = (err: grpc.ServiceError | null, res?: Buffer): void => {
          resolve(err ? this.failure(err.code, err.details, err.metadata) : this.unary(res!));
        };
        const call = mi.clientStream
          ? client.makeClientStreamRequest(mi.path, identity, identity, md, opts, cb)
          : client.makeUnaryRequest(mi.path, identity, identity, this.messages[0]!, md, opts, cb);
        call.on('metadata', (m: grpc.Metadata) => { this.headers = m; });
        this.watchStatus(call);
        if (mi.clientStream) {
          const w = call as grpc.ClientWritableStream<Buffer>;
          for (const m of this.messages) w.write(m);
          w.end();
        }
        this.onClientGone(call);
        return;
      }
      const call: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer> = mi.clientStream
        ? client.makeBidiStreamRequest(mi.path, identity, identity, md, opts)
        : client.makeServerStreamRequest(mi.path, identity, identity, this.messages[0]!, md, opts);
      this.watchStatus(call);
      if (mi.clientStream) {
        const w = call as grpc.ClientDuplexStream<Buffer, Buffer>;
        for (const m of this.messages) w.write(m);
        w.end();
      }
      this.serverStream(call, resolve);
    });
  }

  private watchStatus(call: grpc.Call): void {
    const f = this.onStatus;
    if (f !== undefined) call.once('status', (st: grpc.StatusObject) => f(st.code));
  }

  private onClientGone(call: grpc.Call): void {
    // The client left: cancel upstream work nobody will read.
    this.ctx.res.once('close', () => { if (!this.ctx.res.writableFinished) call.cancel(); });
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

  private failure(code: number, message: string, trailers: grpc.Metadata | undefined): LocalReply {
    this.code = code;
    // grpc-js makes these statuses itself when no response came: its text would name the
    // target, so the client gets the gateway's own catalogue error instead.
    // A deadline is the gateway's (timeout) or the upstream's: too slow either way.
    if (code === Code.DEADLINE_EXCEEDED) { this.transportFailure = true; return { code: 'GW_UPSTREAM_TIMEOUT' }; }
    if (this.headers === undefined && (code === Code.UNAVAILABLE || code === Code.CANCELLED || code === Code.INTERNAL)
      && Object.keys(trailers?.getMap() ?? {}).length === 0) {
      this.transportFailure = true;
      return { code: 'GW_UPSTREAM_UNAVAILABLE' };
    }
    if (code === Code.RESOURCE_EXHAUSTED && /max|larger|size/i.test(message) && this.headers !== undefined) {
      return { code: 'GW_UPSTREAM_BAD_RESPONSE', detail: 'The gRPC response is larger than the configured maxMessageSize' };
    }
    const bin = trailers?.get('grpc-status-details-bin')[0];
    const details = decodeDetails(Buffer.isBuffer(bin) ? bin : undefined, this.s.root, this.s.print);
    const headers = this.responseHeaders(this.headers, trailers);
    headers['content-type'] = 'application/problem+json';
    return { status: httpStatusOf(code), headers, body: grpcProblem(code, message, details, this.ctx.id) };
  }

  private responseHeaders(head: grpc.Metadata | undefined, trailers?: grpc.Metadata): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const allow = this.s.responseHeaders;
    for (const m of [head, trailers]) {
      if (!m) continue;
      const map = m.getMap();
      for (const k in map) {
        if (reservedResponseKey(k) || (allow && !allow.has(k))) continue;
        const v = map[k];
        if (typeof v === 'string') out[k] = v;
      }
    }
    return out;
  }

  private serverStream(call: grpc.ClientReadableStream<Buffer>, resolve: (r: LocalReply) => void): void {
    const ctx = this.ctx, b = this.b, s = this.s;
    const accept = ctx.req.headers.accept ?? '';
    const sse = accept.includes('text/event-stream');
    let out: PassThrough | undefined;
    const start = (): PassThrough => {
      out = new PassThrough();
      const headers = this.responseHeaders(this.headers);
      headers['content-type'] = sse ? 'text/event-stream' : 'application/x-ndjson';
      headers['cache-control'] = 'no-cache';
      // The client went away: stop the upstream stream.
      out.once('close', () => call.cancel());
      resolve({ status: 200, headers, stream: out });
      return out;
    };
    call.on('metadata', (m: grpc.Metadata) => { this.headers = m; });
    call.on('data', (buf: Buffer) => {
      const o = out ?? start();
      let text: string;
      try {
        const msg = b.method.responseType.decode(buf) as unknown as Record<string, unknown>;
        text = JSON.stringify(messageToJson(b.method.responseType, msg, s.print, s.root));
      } catch {
        call.cancel();
        return;
      }
      o.write(sse ? `data: ${text}\n\n` : `${text}\n`);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (!out) { resolve(this.failure(err.code, err.details, err.metadata)); return; }
      this.code = err.code;
      if (err.code === Code.CANCELLED && out.destroyed) return;
      // Mid-stream failure: the status is already 200, so the error is the stream's last item.
      const bin = err.metadata?.get('grpc-status-details-bin')[0];
      const problem = grpcProblem(err.code, this.headers === undefined ? '' : err.details, decodeDetails(Buffer.isBuffer(bin) ? bin : undefined, s.root, s.print), ctx.id);
      out.end(sse ? `event: error\ndata: ${problem}\n\n` : `{"error":${problem}}\n`);
    });
    call.on('end', () => { (out ?? start()).end(); });
  }
}
