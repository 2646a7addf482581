/**
 * grpc-web: browsers' gRPC-Web (application/grpc-web[+proto], application/grpc-web-text)
 * converted to gRPC and back (docs/policies/grpc-web.md). No proto is needed: messages pass
 * through as bytes, the call is made as a bidi stream (one wire format for unary and
 * streaming methods), and every response message is sent as soon as it arrives; the gRPC
 * status and trailers become the final frame.
 *
 * Like grpc-transcode it answers the request itself (phase upstream, lowest priority), so
 * authentication, ACL and rate limits in front of it apply. It answers CORS preflights it
 * sees with what gRPC-Web clients need; on a route with authentication, add the `cors`
 * policy, which answers preflights before authentication runs.
 */
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { spec, schema, type Config } from './spec.ts';
import { parseDuration, parseSize } from '../../schema/duration.ts';
import { traceparent } from '../../http/ids.ts';
import { readBody } from '../validate/body.ts';
import { parseGrpcTimeout, reservedResponseKey, RESERVED_REQUEST } from '../../protos/client.ts';
import { GrpcCall, GrpcPools, type GrpcCallOwner, type GrpcStatus } from '../../upstream/h2/grpc-call.ts';
import type { H2Pool } from '../../upstream/h2/pool.ts';
import { Code } from '../../protos/status.ts';
import { parseFrames, decodeText, dataFrame, trailerFrame, encodeGrpcMessage } from './frames.ts';

export { schema };

const EXPOSE = 'grpc-status, grpc-message, grpc-status-details-bin';
const ALLOW_HEADERS = 'content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, x-api-key';
/** Browser and CORS headers that mean nothing to the gRPC service. */
const NOT_METADATA = new Set([...RESERVED_REQUEST, 'origin', 'referer', 'cookie', 'x-grpc-web', 'x-user-agent', 'x-request-id', 'traceparent',
  'access-control-request-method', 'access-control-request-headers', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'accept-language', 'pragma', 'cache-control', 'expect', 'priority']);

const PATH = /^\/[A-Za-z_][A-Za-z0-9_.]*\/[A-Za-z_][A-Za-z0-9_]*$/;

interface Settings { max: number; timeout: number | undefined; pools: GrpcPools; origins: string[] | undefined }

export const grpcWeb: PolicyDefinition<Config> = {
  ...spec,
  create(config) {
    const s: Settings = {
      max: config.maxMessageSize === undefined ? 4 * 1024 * 1024 : parseSize(config.maxMessageSize),
      timeout: config.timeout === undefined ? undefined : parseDuration(config.timeout),
      pools: new GrpcPools(),
      origins: config.origins?.includes('*') ? undefined : config.origins,
    };
    return Object.freeze<PolicyHandlers>({
      request(ctx: RequestContext) {
        if (ctx.method === 'OPTIONS') return preflight(ctx, s);
        return call(ctx, s);
      },
      response(ctx, head) {
        const origin = allowOrigin(ctx, s);
        if (origin === undefined || head.headers['access-control-allow-origin'] !== undefined) return;
        head.headers['access-control-allow-origin'] = origin;
        head.headers['access-control-expose-headers'] = EXPOSE;
        if (origin !== '*') head.headers.vary = 'Origin';
      },
      close() { s.pools.close(); },
    });
  },
};

function allowOrigin(ctx: RequestContext, s: Settings): string | undefined {
  const o = ctx.req.headers.origin;
  if (!s.origins) return '*';
  return o !== undefined && s.origins.includes(o) ? o : undefined;
}

function preflight(ctx: RequestContext, s: Settings): LocalReply {
  const origin = allowOrigin(ctx, s);
  if (origin === undefined) return { code: 'GW_FORBIDDEN', detail: 'Origin not allowed' };
  const asked = ctx.req.headers['access-control-request-headers'];
  return {
    status: 204,
    headers: {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': typeof asked === 'string' && asked ? asked : ALLOW_HEADERS,
      'access-control-expose-headers': EXPOSE,
      'access-control-max-age': '600',
      ...(origin === '*' ? {} : { vary: 'Origin' }),
    },
  };
}

/** A gRPC-Web answer the gateway makes itself: "trailers-only", the status in the headers. */
function status(ctx: RequestContext, code: number, message: string): LocalReply {
  return { status: 200, headers: { 'content-type': contentType(ctx), 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) } };
}

function contentType(ctx: RequestContext): string {
  const ct = ctx.req.headers['content-type'] ?? '';
  return ct.startsWith('application/grpc-web-text') ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto';
}

async function call(ctx: RequestContext, s: Settings): Promise<LocalReply> {
  const ct = (ctx.req.headers['content-type'] ?? '').toLowerCase();
  const text = ct.startsWith('application/grpc-web-text');
  if (ctx.method !== 'POST' || !(text || ct.startsWith('application/grpc-web'))) {
    return { code: 'GW_UNSUPPORTED_MEDIA_TYPE', detail: 'gRPC-Web needs POST with content-type application/grpc-web or application/grpc-web-text' };
  }
  if (ct.includes('+json')) return status(ctx, Code.UNIMPLEMENTED, 'only the +proto message format is supported');
  let path = ctx.path;
  const strip = ctx.route?.stripPrefix;
  if (strip && path.startsWith(strip + '/')) path = path.slice(strip.length);
  if (!PATH.test(path)) return status(ctx, Code.UNIMPLEMENTED, 'not a gRPC method path');
  // base64 is 4/3 of the bytes: allow for it on the wire.
  const limit = text ? Math.ceil((s.max + 5) * 4 / 3) + 4 : s.max + 5;
  let body = ctx.body;
  if (body === undefined) {
    const r = await readBody(ctx.req, limit, false);
    if (r === 'too-large') return status(ctx, Code.RESOURCE_EXHAUSTED, 'request message larger than the gateway allows');
    if (r === 'aborted') return { code: 'GW_BAD_REQUEST', detail: 'The request body was cut short' };
    body = r;
  }
  if (text) {
    const d = decodeText(body.toString('latin1'));
    if (!d) return status(ctx, Code.INTERNAL, 'grpc-web-text body is not base64');
    body = d;
  }
  const frames = parseFrames(body, s.max);
  if (frames === 'too-large') return status(ctx, Code.RESOURCE_EXHAUSTED, 'request message larger than the gateway allows');
  if (!frames) return status(ctx, Code.INTERNAL, 'malformed gRPC-Web frames');
  if (frames.some((f) => f.flags !== 0)) return status(ctx, Code.UNIMPLEMENTED, 'compressed or trailer frames in a request are not supported');

  const up = ctx.upstream ?? ctx.route?.upstream;
  if (!up) return status(ctx, Code.UNIMPLEMENTED, 'route has no upstream');
  const target = up.pick(ctx);
  if (!target) return status(ctx, Code.UNAVAILABLE, 'no upstream target available');
  const ticket = up.ticket;
  const breaker = ticket >= 0 ? target.breaker : undefined;
  ctx.target = target.origin;
  const md: string[] = [];
  const h = ctx.req.headers;
  for (const k in h) {
    if (NOT_METADATA.has(k) || k.startsWith(':') || k.startsWith('grpc-') || !/^[a-z0-9_.-]+$/.test(k)) continue;
    const v = h[k];
    // -bin values are base64 from the browser, as on the gRPC wire: passed on as they are.
    for (const x of Array.isArray(v) ? v : [v!]) md.push(k, x);
  }
  md.push('x-request-id', ctx.id);
  md.push('traceparent', traceparent(h.traceparent, ctx.ownId ? ctx.id : undefined));
  const timeout = parseGrpcTimeout(h['grpc-timeout'] as string | undefined) ?? s.timeout ?? up.responseTimeout;
  target.inflight++;
  ctx.upstreamStart = performance.now();
  const w = new WebCall(ctx, text, s.max);
  const reply = w.run(s.pools.forTarget(target), path, md, frames.map((f) => f.data), timeout);
  void w.done.then(() => {
    target.inflight--;
    ctx.upstreamEnd = performance.now();
    if (breaker) breaker.record(ticket, w.transportFailure, ctx.upstreamEnd - ctx.upstreamStart);
  });
  return reply;
}

/** Fields of a trailers(-only) block that are not the service's metadata. */
const NOT_TRAILER = new Set(['grpc-status', 'grpc-message', 'content-type', 'content-length', 'date', 'server']);

/** One gRPC-Web call: response frames as they come, the status as the trailers frame. */
class WebCall implements GrpcCallOwner {
  transportFailure = false;
  readonly done: Promise<void>;
  private finish!: () => void;
  private readonly ctx: RequestContext;
  private readonly text: boolean;
  private readonly call: GrpcCall;
  private out: PassThrough | undefined;
  private headers: Record<string, string> | undefined;
  private resolve: ((r: LocalReply) => void) | undefined;
  constructor(ctx: RequestContext, text: boolean, max: number) {
    this.ctx = ctx;
    this.text = text;
    this.call = new GrpcCall(this, max);
    this.done = new Promise((r) => { this.finish = r; });
  }

  run(pool: H2Pool, path: string, md: string[], messages: Buffer[], timeout: number): Promise<LocalReply> {
    return new Promise<LocalReply>((resolve) => {
      this.resolve = resolve;
      this.call.start(pool, path, md, messages, timeout);
    });
  }

  private start(): PassThrough {
    const out = this.out = new PassThrough();
    const headers: Record<string, string> = { 'content-type': contentType(this.ctx) };
    const map = this.headers ?? {};
    for (const k in map) if (!reservedResponseKey(k)) headers[k] = map[k]!;
    out.once('close', () => { this.call.cancel(); });
    this.settle({ status: 200, headers, stream: out });
    return out;
  }

  private settle(r: LocalReply): void {
    const f = this.resolve;
    this.resolve = undefined;
    f?.(r);
  }

  onMetadata(md: Record<string, string>): void { this.headers = md; this.start(); }

  onMessage(msg: Buffer): void { this.write(this.out ?? this.start(), dataFrame(msg)); }

  onStatus(st: GrpcStatus): void {
    this.finish();
    if (!this.out) {
      // Nothing was sent and no gRPC head came: a status the gateway's client made (no
      // response at all) must not show the target's address.
      if (st.code !== Code.OK && this.call.headless && Object.keys(st.trailers).length === 0) {
        this.transportFailure = st.code === Code.UNAVAILABLE || st.code === Code.DEADLINE_EXCEEDED;
        const msg = st.code === Code.DEADLINE_EXCEEDED ? 'upstream timed out' : st.code === Code.UNAVAILABLE ? 'upstream unavailable' : st.details;
        this.settle(status(this.ctx, st.code, msg));
        return;
      }
      this.start();
    }
    const lines: Record<string, string> = { 'grpc-status': String(st.code) };
    if (st.details) lines['grpc-message'] = encodeGrpcMessage(st.details);
    for (const k in st.trailers) if (!NOT_TRAILER.has(k)) lines[k] = st.trailers[k]!;
    const out = this.out!;
    if (!out.destroyed) { this.write(out, trailerFrame(lines)); out.end(); }
  }

  private write(out: PassThrough, frame: Buffer): void {
    if (out.destroyed) return;
    out.write(this.text ? frame.toString('base64') : frame);
  }
}
