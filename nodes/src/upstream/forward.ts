/**
 * The upstream call: one undici `dispatch` per request with a plain handler object (no
 * promise chain, no stream wrapper: undici's legacy handler interface is the one it runs
 * natively, the newer one is wrapped per request). Bodies stream both ways with
 * backpressure: when the client socket is full, undici pauses reading the upstream.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RequestContext } from '../pipeline/context.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import type { Target } from './target.ts';
import type { UpstreamRuntime } from './upstream.ts';
import type { ErrorCode } from '../errors.ts';
import type { ResponseHead } from '../pipeline/types.ts';
import { forwardableRequestHeaders, forwardableResponseHeaders, flatToObject } from '../http/headers.ts';
import { forwardedFor, forwardedHost, forwardedProto } from '../http/client-ip.ts';
import { traceparent } from '../pipeline/ids.ts';
import { sendReply } from '../pipeline/reply.ts';
import { finish } from '../pipeline/finish.ts';

/** Map an undici/socket error to the gateway's code: slow is 504, refused/reset is 502. */
export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'GW_UPSTREAM_TIMEOUT';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INVALID_ARG':
      return 'GW_UPSTREAM_BAD_RESPONSE';
    default:
      return 'GW_UPSTREAM_UNAVAILABLE';
  }
}

class ProxyHandler implements Dispatcher.DispatchHandler {
  private readonly rt: Runtime;
  private readonly ctx: RequestContext;
  private readonly target: Target;
  private abort: ((err?: Error) => void) | undefined = undefined;
  private resume: (() => void) | undefined = undefined;
  private ended = false;

  constructor(rt: Runtime, ctx: RequestContext, target: Target) {
    this.rt = rt;
    this.ctx = ctx;
    this.target = target;
    ctx.res.once('close', this.onClientClose);
  }

  /** The client went away first: stop the upstream call too. */
  private readonly onClientClose = (): void => {
    if (!this.ended) {
      this.ended = true;
      this.target.inflight--;
      this.abort?.(new Error('client closed'));
      this.ctx.tap?.abort();
      finish(this.rt, this.ctx);
    }
  };

  private readonly onDrain = (): void => { this.resume?.(); };

  onConnect(abort: (err?: Error) => void): void { this.abort = abort; }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const ctx = this.ctx;
    if (this.ended) return false;
    // 1xx informational responses (other than 101) are not forwarded here; wait for the final one.
    if (statusCode < 200) return true;
    ctx.upstreamEnd = performance.now();
    this.resume = resume;
    let headers: string[] | Record<string, string | string[]> = forwardableResponseHeaders(rawHeaders);
    const route = ctx.route!;
    if (route.response.length || ctx.responseHeaders) {
      const obj = flatToObject(headers);
      if (ctx.responseHeaders) for (const k in ctx.responseHeaders) obj[k] = ctx.responseHeaders[k]!;
      const head: ResponseHead = { status: statusCode, headers: obj, local: false };
      for (const h of route.response) h(ctx, head);
      statusCode = head.status;
      obj['x-request-id'] = ctx.id;
      if (this.rt.draining) obj.connection = 'close';
      headers = obj;
    } else {
      headers.push('x-request-id', ctx.id);
      if (this.rt.draining) headers.push('connection', 'close');
    }
    ctx.status = statusCode;
    if (ctx.tap) ctx.tap.head(statusCode, Array.isArray(headers) ? flatToObject(headers) : headers);
    try {
      ctx.res.writeHead(statusCode, headers as never);
    } catch {
      // The upstream sent a header Node refuses to emit: treat as a bad response.
      ctx.status = 0;
      this.fail('GW_UPSTREAM_BAD_RESPONSE');
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return false;
    if (this.ctx.tap) this.ctx.tap.data(chunk);
    const ok = this.ctx.res.write(chunk);
    if (!ok) this.ctx.res.once('drain', this.onDrain);
    return ok;
  }

  onComplete(): void {
    if (this.ended) return;
    this.ended = true;
    this.target.inflight--;
    this.ctx.res.end();
    this.ctx.tap?.end();
    finish(this.rt, this.ctx);
  }

  onError(err: Error): void {
    if (this.ended) return;
    const code = this.ctx.errorCode === 'GW_PAYLOAD_TOO_LARGE' ? 'GW_PAYLOAD_TOO_LARGE' : upstreamErrorCode(err);
    if (code !== 'GW_PAYLOAD_TOO_LARGE') this.rt.metrics.upstreamErrors.labels(this.ctx.route?.upstream?.name ?? '', code).inc();
    this.fail(code);
  }

  private fail(code: ErrorCode): void {
    if (this.ended) return;
    this.ended = true;
    this.target.inflight--;
    if (this.ctx.upstreamEnd === 0) this.ctx.upstreamEnd = performance.now();
    this.ctx.errorCode = code;
    this.ctx.tap?.abort();
    sendReply(this.rt, this.ctx, { code });
  }
}

/** Forward the request to one target of `up`. The request phases have all passed. */
export function forward(rt: Runtime, ctx: RequestContext, up: UpstreamRuntime): void {
  const target = up.pick(ctx);
  if (!target) { sendReply(rt, ctx, { code: up.targets.length ? 'GW_NO_HEALTHY_UPSTREAM' : 'GW_UPSTREAM_UNAVAILABLE' }); return; }
  const req = ctx.req;
  const route = ctx.route!;
  let path = route.rewrite ? route.rewrite(ctx) : ctx.path;
  const strip = route.stripPrefix;
  if (strip !== undefined && !route.rewrite && path.startsWith(strip) && (path.length === strip.length || path.charCodeAt(strip.length) === 47)) {
    path = path.length === strip.length ? '/' : path.slice(strip.length);
  }
  if (ctx.rawQuery) path += '?' + ctx.rawQuery;

  const h: string[] = [];
  forwardableRequestHeaders(req.headers, h, ctx.dropHeaders);
  const host = req.headers.host ?? ctx.host;
  h.push(
    'host', up.preserveHost ? host : target.hostHeader,
    'x-forwarded-for', forwardedFor(req, rt.trusted),
    'x-forwarded-proto', forwardedProto(req, rt.trusted),
    'x-forwarded-host', forwardedHost(req, rt.trusted, host),
    'x-request-id', ctx.id,
    'traceparent', traceparent(req.headers.traceparent),
  );
  let body: Dispatcher.DispatchOptions['body'] = null;
  if (ctx.body !== undefined) {
    body = ctx.body;
    h.push('content-length', String(ctx.body.length));
  } else {
    const cl = req.headers['content-length'];
    if (cl !== undefined) {
      if (cl !== '0') { body = req; h.push('content-length', cl); }
    } else if (req.headers['transfer-encoding'] !== undefined) {
      body = Readable.from(limitBody(ctx, rt.maxBodySize), { objectMode: false });
    }
  }
  const u = ctx.upstreamHeaders;
  if (u) for (const k in u) { const i = indexOfHeader(h, k); if (i >= 0) h[i + 1] = u[k]!; else h.push(k, u[k]!); }

  target.inflight++;
  ctx.target = target.origin;
  ctx.upstreamStart = performance.now();
  target.pool.dispatch({
    origin: target.origin,
    path,
    method: ctx.method as Dispatcher.HttpMethod,
    headers: h,
    body,
    headersTimeout: up.responseTimeout,
    bodyTimeout: up.idleTimeout,
  }, new ProxyHandler(rt, ctx, target));
}

function indexOfHeader(h: string[], name: string): number {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return i;
  return -1;
}

/** Chunked request bodies have no length up front: count while streaming, stop at the limit (413). */
async function* limitBody(ctx: RequestContext, max: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > max) {
      ctx.errorCode = 'GW_PAYLOAD_TOO_LARGE';
      throw Object.assign(new Error('body too large'), { code: 'GW_PAYLOAD_TOO_LARGE' });
    }
    yield chunk;
  }
}
