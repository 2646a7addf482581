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
import type * as grpc from '@grpc/grpc-js';
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { spec, schema, type Config } from './spec.ts';
import { parseDuration, parseSize } from '../../schema/duration.ts';
import { traceparent } from '../../http/ids.ts';
import { readBody } from '../validate/body.ts';
import { GrpcChannels, grpcjs, identity, parseGrpcTimeout, reservedResponseKey, RESERVED_REQUEST } from '../../protos/client.ts';
import { Code } from '../../protos/status.ts';
import { parseFrames, decodeText, dataFrame, trailerFrame, encodeGrpcMessage } from './frames.ts';

export { schema };

const EXPOSE = 'grpc-status, grpc-message, grpc-status-details-bin';
const ALLOW_HEADERS = 'content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, x-api-key';
/** Browser and CORS headers that mean nothing to the gRPC service. */
const NOT_METADATA = new Set([...RESERVED_REQUEST, 'origin', 'referer', 'cookie', 'x-grpc-web', 'x-user-agent', 'x-request-id', 'traceparent',
  'access-control-request-method', 'access-control-request-headers', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest', 'accept-language', 'pragma', 'cache-control', 'expect', 'priority']);

const PATH = /^\/[A-Za-z_][A-Za-z0-9_.]*\/[A-Za-z_][A-Za-z0-9_]*$/;

interface Settings { max: number; timeout: number | undefined; channels: GrpcChannels; origins: string[] | undefined }

export const grpcWeb: PolicyDefinition<Config> = {
  ...spec,
  create(config) {
    const s: Settings = {
      max: config.maxMessageSize === undefined ? 4 * 1024 * 1024 : parseSize(config.maxMessageSize),
      timeout: config.timeout === undefined ? undefined : parseDuration(config.timeout),
      channels: undefined!,
      origins: config.origins?.includes('*') ? undefined : config.origins,
    };
    s.channels = new GrpcChannels({ maxMessageSize: s.max });
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
      close() { s.channels.close(); },
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
  const md = new (grpcjs().Metadata)();
  const h = ctx.req.headers;
  for (const k in h) {
    if (NOT_METADATA.has(k) || k.startsWith(':') || k.startsWith('grpc-') || !/^[a-z0-9_.-]+$/.test(k)) continue;
    const v = h[k];
    for (const x of Array.isArray(v) ? v : [v!]) {
      if (k.endsWith('-bin')) md.add(k, Buffer.from(x, 'base64')); else md.add(k, x);
    }
  }
  md.set('x-request-id', ctx.id);
  md.set('traceparent', traceparent(h.traceparent, ctx.ownId ? ctx.id : undefined));
  const timeout = parseGrpcTimeout(h['grpc-timeout'] as string | undefined) ?? s.timeout ?? up.responseTimeout;
  const client = s.channels.get(target.url);
  target.inflight++;
  ctx.upstreamStart = performance.now();
  const w = new WebCall(ctx, text);
  const stream = client.makeBidiStreamRequest(path, identity, identity, md, { deadline: Date.now() + timeout });
  const reply = w.run(stream, frames.map((f) => f.data));
  void w.done.then(() => {
    target.inflight--;
    ctx.upstreamEnd = performance.now();
    if (breaker) breaker.record(ticket, w.transportFailure, ctx.upstreamEnd - ctx.upstreamStart);
  });
  return reply;
}

/** One gRPC-Web call: response frames as they come, the status as the trailers frame. */
class WebCall {
  transportFailure = false;
  readonly done: Promise<void>;
  private finish!: () => void;
  private readonly ctx: RequestContext;
  private readonly text: boolean;
  private out: PassThrough | undefined;
  private headers: grpc.Metadata | undefined;
  constructor(ctx: RequestContext, text: boolean) {
    this.ctx = ctx;
    this.text = text;
    this.done = new Promise((r) => { this.finish = r; });
  }

  run(call: grpc.ClientDuplexStream<Buffer, Buffer>, messages: Buffer[]): Promise<LocalReply> {
    return new Promise<LocalReply>((resolve) => {
      const start = (): PassThrough => {
        const out = this.out = new PassThrough();
        const headers: Record<string, string> = { 'content-type': contentType(this.ctx) };
        const map = this.headers?.getMap() ?? {};
        for (const k in map) if (!reservedResponseKey(k) && typeof map[k] === 'string') headers[k] = map[k] as string;
        out.once('close', () => call.cancel());
        resolve({ status: 200, headers, stream: out });
        return out;
      };
      call.on('metadata', (m: grpc.Metadata) => { this.headers = m; start(); });
      call.on('data', (msg: Buffer) => { this.write(this.out ?? start(), dataFrame(msg)); });
      call.on('status', (st: grpc.StatusObject) => {
        this.finish();
        if (!this.out) {
          // Trailers-only: nothing was sent; a status the gateway's client made up (no
          // response at all) must not show the target's address.
          if (st.code !== Code.OK && this.headers === undefined && Object.keys(st.metadata.getMap()).length === 0) {
            this.transportFailure = st.code === Code.UNAVAILABLE || st.code === Code.DEADLINE_EXCEEDED;
            const msg = st.code === Code.DEADLINE_EXCEEDED ? 'upstream timed out' : st.code === Code.UNAVAILABLE ? 'upstream unavailable' : st.details;
            resolve(status(this.ctx, st.code, msg));
            return;
          }
          start();
        }
        const lines: Record<string, string> = { 'grpc-status': String(st.code) };
        if (st.details) lines['grpc-message'] = encodeGrpcMessage(st.details);
        const map = st.metadata.getMap();
        for (const k in map) {
          const v = map[k];
          if (k === 'grpc-status' || k === 'grpc-message') continue;
          lines[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
        }
        const out = this.out!;
        if (!out.destroyed) { this.write(out, trailerFrame(lines)); out.end(); }
      });
      call.on('error', () => { /* reported through 'status' */ });
      for (const m of messages) call.write(m);
      call.end();
    });
  }

  private write(out: PassThrough, frame: Buffer): void {
    if (out.destroyed) return;
    out.write(this.text ? frame.toString('base64') : frame);
  }
}
