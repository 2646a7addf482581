/**
 * Tracing of one request, on `@opentelemetry/api` only (the SDK is wired in setup.ts).
 *
 * The sampling decision is made first, from the incoming `traceparent` (parent-based: a
 * sampled parent is always kept, an unsampled one never) or, for a new trace, the ratio.
 * An unsampled request makes no span object at all: it only gets a `traceparent` for the
 * upstream with a new span id and the sampled flag clear. A sampled request gets a server
 * span named `METHOD route` and one client span per upstream try; the upstream's
 * `traceparent` names the try's client span as its parent.
 *
 * Attributes follow the HTTP semantic conventions (stable, v1.2x): http.request.method,
 * url.path, url.scheme, http.route, server.address, server.port, network.protocol.version,
 * client.address, user_agent.original, http.response.status_code, error.type,
 * http.request.resend_count. Decisions the gateway took are span events (auth, rate_limit,
 * cache on the server span; breaker on a client span).
 */
import {
  trace, createTraceState, SpanKind, SpanStatusCode, TraceFlags,
  type Context, type Span, type SpanContext, type Tracer,
} from '@opentelemetry/api';
import type { RequestContext } from './context.ts';
import type { Target } from '../upstream/target.ts';
import { PHASE_NAMES } from '../upstream/breaker/types.ts';
import { randomHex } from '../core/random-hex.ts';


/** Lower-case hex digit? */
function isHex(c: number): boolean { return (c >= 48 && c <= 57) || (c >= 97 && c <= 102); }

/**
 * A valid version-00 `traceparent` (W3C trace context §3.2): its sampled flag as 0/1, or -1
 * when invalid. Checked by hand: no regex match array per request.
 */
function traceparentFlags(tp: string): number {
  if (tp.length !== 55 || tp.charCodeAt(0) !== 48 || tp.charCodeAt(1) !== 48 || tp.charCodeAt(2) !== 45 || tp.charCodeAt(35) !== 45 || tp.charCodeAt(52) !== 45) return -1;
  let zeroTrace = true;
  let zeroSpan = true;
  for (let i = 3; i < 55; i++) {
    if (i === 35 || i === 52) continue;
    const c = tp.charCodeAt(i);
    if (!isHex(c)) return -1;
    if (c !== 48) { if (i < 35) zeroTrace = false; else if (i < 52) zeroSpan = false; }
  }
  if (zeroTrace || zeroSpan) return -1;
  const last = tp.charCodeAt(54);
  return (last <= 57 ? last - 48 : last - 87) & 1; // the sampled bit: the low bit of the flags' last hex digit
}

/**
 * A parent context for the api: one small object per link instead of the api's default
 * context (a Map copy and three closures per setValue). Implements the api's Context
 * interface; `trace.setSpan()` and `trace.getSpan()` work on it unchanged.
 */
class LinkContext implements Context {
  private readonly up: LinkContext | undefined;
  private readonly key: symbol | undefined;
  private readonly value: unknown;
  constructor(up: LinkContext | undefined, key: symbol | undefined, value: unknown) { this.up = up; this.key = key; this.value = value; }
  getValue(key: symbol): unknown {
    if (this.key === key) return this.value;
    return this.up === undefined ? undefined : this.up.getValue(key);
  }
  setValue(key: symbol, value: unknown): Context { return new LinkContext(this, key, value); }
  deleteValue(key: symbol): Context { return new LinkContext(this, key, undefined); }
}
const EMPTY = new LinkContext(undefined, undefined, undefined);

/** The node's tracing: one per gateway process, `ratio` changed by config reloads. */
export class RequestTracing {
  readonly tracer: Tracer;
  /** Share of new traces (no sampled parent) that are recorded, 0..1. */
  ratio: number;

  constructor(tracer: Tracer, ratio: number) {
    this.tracer = tracer;
    this.ratio = ratio;
  }

  /** At the start of a request: its trace when sampled, else undefined (nothing allocated). */
  begin(ctx: RequestContext): RequestTrace | undefined {
    const h = ctx.req.headers;
    const tp = h.traceparent;
    let parent: SpanContext | undefined;
    if (typeof tp === 'string') {
      const sampled = traceparentFlags(tp);
      if (sampled === 0) return undefined;
      if (sampled === 1) {
        parent = { traceId: tp.slice(3, 35), spanId: tp.slice(36, 52), traceFlags: TraceFlags.SAMPLED, isRemote: true };
        const ts = h.tracestate;
        if (typeof ts === 'string' && ts.length > 0 && ts.length <= 512) parent.traceState = createTraceState(ts);
      }
    }
    if (parent === undefined && (this.ratio <= 0 || Math.random() >= this.ratio)) return undefined;
    return new RequestTrace(this.tracer, ctx, parent === undefined ? EMPTY : trace.setSpanContext(EMPTY, parent));
  }

  /**
   * The upstream's `traceparent` for an unsampled request: the client's trace (or a new one,
   * whose id is the gateway's own request id when it made one) with a new span id and the
   * sampled flag clear, so the services downstream do not record it either.
   */
  unsampled(incoming: string | string[] | undefined, ownId: string | undefined): string {
    if (typeof incoming === 'string' && traceparentFlags(incoming) >= 0) return `00-${incoming.slice(3, 35)}-${randomHex(8)}-${incoming.slice(53, 55)}`;
    return `00-${ownId ?? randomHex(16)}-${randomHex(8)}-00`;
  }
}

/** The spans of one sampled request. */
export class RequestTrace {
  private readonly tracer: Tracer;
  readonly server: Span;
  private readonly context: Context;
  private client: Span | undefined = undefined;
  private tries = 0;

  constructor(tracer: Tracer, ctx: RequestContext, parent: Context) {
    this.tracer = tracer;
    const req = ctx.req;
    const span = this.server = tracer.startSpan(ctx.method, { kind: SpanKind.SERVER, startTime: ctx.start }, parent);
    const sock = req.socket;
    span.setAttribute('http.request.method', ctx.method);
    span.setAttribute('url.path', ctx.path);
    span.setAttribute('url.scheme', (sock as { encrypted?: boolean }).encrypted ? 'https' : 'http');
    span.setAttribute('server.address', ctx.host);
    if (sock.localPort !== undefined) span.setAttribute('server.port', sock.localPort);
    span.setAttribute('network.protocol.version', req.httpVersion);
    span.setAttribute('client.address', ctx.clientIp);
    const ua = req.headers['user-agent'];
    if (ua !== undefined) span.setAttribute('user_agent.original', ua);
    span.setAttribute('gatehouse.request_id', ctx.id);
    this.context = trace.setSpan(parent, span);
  }

  get traceId(): string { return this.server.spanContext().traceId; }

  /** A try to `target` starts: its client span, and the `traceparent` the upstream gets. */
  startTry(ctx: RequestContext, upstream: string, target: Target): string {
    const span = this.client = this.tracer.startSpan(ctx.method, { kind: SpanKind.CLIENT }, this.context);
    span.setAttribute('http.request.method', ctx.method);
    serverAttributes(span, target);
    span.setAttribute('url.full', target.origin + ctx.path);
    span.setAttribute('network.protocol.version', '1.1');
    span.setAttribute('gatehouse.upstream', upstream);
    if (this.tries > 0) span.setAttribute('http.request.resend_count', this.tries);
    this.tries++;
    const b = target.breaker;
    if (b !== undefined) span.addEvent('breaker', { 'gatehouse.breaker.state': PHASE_NAMES[b.phase] });
    const sc = span.spanContext();
    return `00-${sc.traceId}-${sc.spanId}-01`;
  }

  /**
   * A gRPC call the gateway makes itself (grpc-transcode): its client span, named
   * `pkg.Service/Method` with the RPC semantic conventions (rpc.system `grpc`, rpc.service,
   * rpc.method), and the `traceparent` the service gets. `path` is the gRPC path
   * `/pkg.Service/Method`; endGrpcCall() records the status.
   */
  startGrpcCall(path: string, upstream: string, target: Target): string {
    const slash = path.lastIndexOf('/');
    const service = path.slice(1, slash);
    const span = this.client = this.tracer.startSpan(path.slice(1), { kind: SpanKind.CLIENT }, this.context);
    span.setAttribute('rpc.system', 'grpc');
    span.setAttribute('rpc.service', service);
    span.setAttribute('rpc.method', path.slice(slash + 1));
    serverAttributes(span, target);
    span.setAttribute('network.protocol.version', '2');
    span.setAttribute('gatehouse.upstream', upstream);
    const b = target.breaker;
    if (b !== undefined) span.addEvent('breaker', { 'gatehouse.breaker.state': PHASE_NAMES[b.phase] });
    const sc = span.spanContext();
    return `00-${sc.traceId}-${sc.spanId}-01`;
  }

  /**
   * The gRPC call is over: `code` its status (0 OK), `name` the status name, or the gateway's
   * own error code when no status came back (no target answered, the deadline).
   */
  endGrpcCall(code: number, name: string): void {
    const span = this.client;
    if (span === undefined) return;
    span.setAttribute('rpc.grpc.status_code', code);
    // A client span: every status but OK is an error (RPC conventions for gRPC).
    if (code !== 0) {
      span.setAttribute('error.type', name);
      span.setStatus({ code: SpanStatusCode.ERROR, message: name });
    }
    this.client = undefined;
    span.end();
  }

  /** A retry: a new client span, and its `traceparent` replaces the previous try's in `headers`. */
  retry(ctx: RequestContext, headers: string[], upstream: string, target: Target): void {
    const tp = this.startTry(ctx, upstream, target);
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'traceparent') { headers[i + 1] = tp; return; }
    headers.push('traceparent', tp);
  }

  /** The try's response head arrived. */
  tryHead(status: number): void {
    const span = this.client;
    if (span === undefined) return;
    span.setAttribute('http.response.status_code', status);
    if (status >= 400) {
      span.setAttribute('error.type', String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  /** The try is over: its body read, or failed (`err`: an Error or an error type). */
  endTry(err?: unknown): void {
    const span = this.client;
    if (span === undefined) return;
    this.client = undefined;
    if (err !== undefined) {
      const type = typeof err === 'string' ? err : String((err as { code?: string } | null)?.code ?? (err as Error)?.name ?? 'Error');
      span.setAttribute('error.type', type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof err === 'string' ? err : (err as Error)?.message ?? '' });
    }
    span.end();
  }

  /** The request is over (finish.ts): decisions as events, the route in the name, the server span ends. */
  end(ctx: RequestContext, now: number): void {
    this.endTry(this.client !== undefined ? 'cancelled' : undefined);
    const span = this.server;
    const route = ctx.route;
    if (route !== undefined) {
      span.updateName(`${ctx.method} ${route.name}`);
      span.setAttribute('http.route', route.name);
    }
    const status = ctx.status;
    if (status > 0) span.setAttribute('http.response.status_code', status);
    const code = ctx.errorCode;
    if (ctx.consumer !== undefined) span.addEvent('auth', { 'gatehouse.auth.result': 'authenticated', 'gatehouse.consumer': ctx.consumer.name, 'gatehouse.auth.method': ctx.consumer.method ?? '' });
    else if (code === 'GW_UNAUTHORIZED' || code === 'GW_FORBIDDEN') span.addEvent('auth', { 'gatehouse.auth.result': code === 'GW_UNAUTHORIZED' ? 'unauthenticated' : 'forbidden' });
    const rl = rateLimitDecision(ctx);
    if (rl !== undefined) span.addEvent('rate_limit', { 'gatehouse.rate_limit.decision': rl });
    const cache = cacheResult(ctx);
    if (cache !== undefined) span.addEvent('cache', { 'gatehouse.cache.result': cache });
    if (code !== undefined) span.setAttribute('gatehouse.error_code', code);
    if (status >= 500 || status === 0) {
      span.setAttribute('error.type', code ?? (status === 0 ? 'aborted' : String(status)));
      span.setStatus({ code: SpanStatusCode.ERROR, ...(code !== undefined ? { message: code } : {}) });
    }
    span.end(now);
  }
}

/** server.address and server.port of a client span: the target's authority. */
function serverAttributes(span: Span, target: Target): void {
  const hp = target.hostHeader;
  const colon = hp.lastIndexOf(':');
  if (colon > 0 && hp.charCodeAt(hp.length - 1) !== 93 /* ] */) {
    span.setAttribute('server.address', hp.slice(0, colon));
    span.setAttribute('server.port', Number(hp.slice(colon + 1)));
  } else {
    span.setAttribute('server.address', hp);
    span.setAttribute('server.port', target.origin.startsWith('https:') ? 443 : 80);
  }
}

/** 'limited' when the rate-limit policy refused, 'allowed' when it let through (its RateLimit header is set). */
export function rateLimitDecision(ctx: RequestContext): string | undefined {
  if (ctx.errorCode === 'GW_RATE_LIMITED') return 'limited';
  return ctx.responseHeaders?.ratelimit !== undefined ? 'allowed' : undefined;
}

/** The cache policy's result: hit, stale, miss, bypass, revalidated (lower case), if the route caches. */
export function cacheResult(ctx: RequestContext): string | undefined {
  const v = ctx.cacheResult ?? ctx.responseHeaders?.['x-cache'];
  return typeof v === 'string' ? v.toLowerCase() : undefined;
}
