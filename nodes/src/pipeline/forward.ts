/**
 * The upstream call: one `dispatch` per try on the target's HTTP/1.1 pool (h1/, decision
 * 0005) with a plain handler object (no promise chain, no stream wrapper). Bodies stream
 * both ways with backpressure: when the client socket is full, the pool pauses reading
 * the upstream.
 *
 * Composed from small parts, each optional and each testable alone: the breaker admits a
 * try and takes its verdict (breaker/), the retry policy decides whether a failure is
 * retried and how long to wait (retry.ts), the budget caps retries in flight (budget.ts),
 * and a per-try timer bounds each try within the overall deadline (attempts.ts); the
 * handler (handler.ts) runs the loop. Without `retries` no retry state is allocated;
 * without a breaker the only cost is a field check per callback.
 */
import { performance } from 'node:perf_hooks'; // the global is a getter: one lookup per call
import { Transform, type Readable } from 'node:stream';
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';
import type { UpstreamRuntime } from '../upstream/upstream.ts';
import { forwardableRequestHeaders } from '../http/headers.ts';
import { pushGatewayHeaders } from '../request/upstream-request.ts';
import { sendReply } from './reply.ts';
import { ProxyHandler } from './proxy.ts';
import { upstreamPath } from '../request/upstream-path.ts';
import { Retrying } from '../upstream/attempts.ts';
import type { H1Request } from '../upstream/h1/pool.ts';

/** Forward the request to one target of `up`. The request phases have all passed. */
export function forward(rt: Runtime, ctx: RequestContext, up: UpstreamRuntime): void {
  const target = up.pick(ctx);
  if (!target) { noTarget(rt, ctx, up); return; }
  const ticket = up.ticket;
  const req = ctx.req;
  const path = upstreamPath(ctx);

  const h: string[] = [];
  forwardableRequestHeaders(req.headers, h, ctx.dropHeaders);
  // The target's Host is added by the pool from its origin (its own per target on a retry).
  // This hop's traceparent: the client span's when the request is sampled (request/tracing.ts).
  const tp = ctx.trace !== undefined ? ctx.trace.startTry(ctx, up.name, target)
    : rt.tracing !== undefined ? rt.tracing.unsampled(req.headers.traceparent, ctx.ownId ? ctx.id : undefined)
      : undefined;
  pushGatewayHeaders(h, ctx, up.preserveHost, undefined, tp);
  let body: H1Request['body'] = null;
  if (ctx.body !== undefined) {
    body = ctx.body;
    h.push('content-length', String(ctx.body.length));
  } else {
    const cl = req.headers['content-length'];
    if (cl !== undefined) {
      if (cl !== '0') { body = req; h.push('content-length', cl); }
    } else if (req.headers['transfer-encoding'] !== undefined) {
      body = limitBody(ctx, rt.maxBodySize);
    }
  }
  // Everything so far came through Node's strict parser or was built here; what policies
  // add (identity headers, claims, transforms) is checked by the client before it is sent.
  let checked = h.length;
  const u = ctx.upstreamHeaders;
  if (u) {
    for (const k in u) {
      const i = indexOfHeader(h, k);
      if (i < 0) { h.push(k, u[k]!); continue; }
      h[i + 1] = u[k]!;
      if (i < checked) checked = i; // a replaced value is checked too
    }
  }

  target.inflight++;
  ctx.target = target.origin;
  const start = ctx.upstreamStart = performance.now();
  const opts: H1Request = { method: ctx.method, path, headers: h, checked, body, headersTimeout: up.responseTimeout };
  const handler = new ProxyHandler(rt, ctx, up, target, ticket);
  const policy = up.retry;
  if (policy !== undefined) {
    // A streamed body is read once: only a request without one, or with a buffered one, is replayed.
    const replayable = body === null || body === ctx.body;
    const left = replayable && policy.retriesMethod(ctx.method) ? policy.attempts : 0;
    handler.retry = new Retrying(handler, up, opts, left, start, target);
  }
  target.h1.dispatch(opts, handler);
}

/** No target can take the request: the upstream's fallback, or the documented 502/503. */
function noTarget(rt: Runtime, ctx: RequestContext, up: UpstreamRuntime): void {
  const reply = up.noTargetReply();
  // A fallback answer is not an error for the client, but the access log says why it was given.
  if (reply.code === undefined) ctx.errorCode = up.noTargetCode();
  sendReply(rt, ctx, reply);
}

function indexOfHeader(h: string[], name: string): number {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return i;
  return -1;
}

/**
 * Chunked request bodies have no length up front: count while streaming, stop at the limit
 * (413). The client's stream is only unpiped, not destroyed, so the 413 can still be
 * written; the connection closes after it (the rest of the body is never read).
 */
function limitBody(ctx: RequestContext, max: number): Readable {
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen <= max) { done(null, chunk); return; }
      ctx.errorCode = 'GW_PAYLOAD_TOO_LARGE';
      ctx.res.shouldKeepAlive = false;
      done(Object.assign(new Error('body too large'), { code: 'GW_PAYLOAD_TOO_LARGE' }));
    },
  });
  ctx.req.pipe(limiter);
  return limiter;
}
