/**
 * The cache's own upstream call, for revalidation (RFC 9111 §4.3) and background refresh.
 * The forwarder cannot do these: it writes the upstream's head to the client, so a 304
 * would reach a client that asked for nothing conditional, and a 5xx could not be replaced
 * by a stale response (stale-if-error). Here the answer is buffered (up to maxObjectSize)
 * and the policy decides what the client gets.
 *
 * The request is the one the forwarder would send (route rewrite, stripPrefix, query,
 * policies' header changes), always GET, without the client's own conditional and range
 * headers, plus the cache's validators. Like the mirror policy it goes through the target's
 * pool and breaker, without the upstream's retries. X-Forwarded-For carries the client
 * address the gateway believes (ctx.clientIp).
 */
import type { H1Control, H1Handler } from '../../upstream/h1/pool.ts';
import type { RequestContext } from '../../request/context.ts';
import type { LocalReply } from '../../request/policy.ts';
import type { Target } from '../../upstream/target.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { forwardableRequestHeaders, forwardableResponseHeaders, flatToObject } from '../../http/headers.ts';
import { pushGatewayHeaders } from '../../request/upstream-request.ts';
import { upstreamErrorCode } from '../../upstream/error-code.ts';
import type { Headers } from './freshness.ts';
import { upstreamPath } from '../../request/upstream-path.ts';

export interface Fetched {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly requestTime: number;
  readonly responseTime: number;
}
export type FetchResult = Fetched | { readonly error: LocalReply } | { readonly tooLarge: true };

/** Client headers that would change what the upstream answers in a way the cache does not handle. */
const CLIENT_ONLY = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

class BufferHandler implements H1Handler {
  private readonly done: (r: FetchResult) => void;
  private readonly target: Target;
  private readonly ticket: number;
  private readonly max: number;
  private readonly metrics: Metrics;
  private readonly upstream: string;
  private readonly requestTime = Date.now();
  private readonly start = performance.now();
  private control: H1Control | undefined = undefined;
  private status = 0;
  private headers: Headers | undefined = undefined;
  private responseTime = 0;
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private judged = false;

  constructor(done: (r: FetchResult) => void, target: Target, ticket: number, max: number, metrics: Metrics, upstream: string) {
    this.done = done;
    this.target = target;
    this.ticket = ticket;
    this.max = max;
    this.metrics = metrics;
    this.upstream = upstream;
  }

  onConnect(control: H1Control): void { this.control = control; }

  onHeaders(status: number, raw: string[]): boolean {
    if (this.ended) return false;
    if (status < 200) return true;
    this.judge(status >= 500);
    this.status = status;
    this.responseTime = Date.now();
    this.headers = flatToObject(forwardableResponseHeaders(raw));
    const cl = this.headers['content-length'];
    if (typeof cl === 'string' && Number(cl) > this.max) { this.tooLarge(); return false; }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return false;
    this.size += chunk.length;
    if (this.size > this.max) { this.tooLarge(); return false; }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(tail?: Buffer): void {
    if (this.ended) return;
    if (tail !== undefined && !this.onData(tail)) return;
    this.finish({ status: this.status, headers: this.headers ?? {}, body: Buffer.concat(this.chunks, this.size), requestTime: this.requestTime, responseTime: this.responseTime });
  }

  onError(err: Error): void {
    if (this.ended) return;
    this.judge(true);
    const code = upstreamErrorCode(err);
    this.metrics.upstreamErrors.labels(this.upstream, code).inc();
    this.finish({ error: { code } });
  }

  private tooLarge(): void {
    this.finish({ tooLarge: true });
    this.control?.abort(new Error('cache: response larger than maxObjectSize'));
  }

  private finish(r: FetchResult): void {
    this.ended = true;
    this.chunks = [];
    this.target.inflight--;
    this.done(r);
  }

  /** The target's breaker hears about this call like any other (5xx and errors are failures). */
  private judge(failed: boolean): void {
    if (this.judged) return;
    this.judged = true;
    if (this.ticket >= 0) this.target.breaker?.record(this.ticket, failed, performance.now() - this.start);
  }
}

/**
 * GET the request's resource from its upstream with `extra` headers (validators). Builds
 * everything from ctx synchronously, so a background refresh may outlive the request (and
 * then leaves ctx.target alone: the client's answer came from the cache).
 */
export function fetchUpstream(ctx: RequestContext, extra: readonly string[], max: number, metrics: Metrics, background = false): Promise<FetchResult> {
  const up = ctx.upstream ?? ctx.route?.upstream;
  if (up === undefined) return Promise.resolve({ error: { code: 'GW_ROUTE_NOT_FOUND', detail: 'Route has no upstream' } });
  const target = up.pick(ctx);
  const ticket = up.ticket;
  if (target === undefined) return Promise.resolve({ error: up.noTargetReply() });
  const req = ctx.req;
  const all: string[] = [];
  forwardableRequestHeaders(req.headers, all, ctx.dropHeaders);
  const h: string[] = [];
  for (let i = 0; i < all.length; i += 2) if (!CLIENT_ONLY.has(all[i]!)) h.push(all[i]!, all[i + 1]!);
  pushGatewayHeaders(h, ctx, up.preserveHost, target.hostHeader);
  const u = ctx.upstreamHeaders;
  if (u) for (const k in u) set(h, k, u[k]!);
  for (let i = 0; i < extra.length; i += 2) set(h, extra[i]!, extra[i + 1]!);
  target.inflight++;
  if (!background) ctx.target = target.origin;
  return new Promise<FetchResult>((resolve) => {
    const handler = new BufferHandler(resolve, target, ticket, max, metrics, up.name);
    // The proxy path's client (HTTP/1.1 or HTTP/2, the target's queue bounds): it reads a 304
    // with a Content-Length as the bodiless response it is (undici's pool fails it as a
    // length mismatch, RFC 9110 §8.6 allows it). Its dispatch never throws.
    target.h1.dispatch({ method: 'GET', path: upstreamPath(ctx), headers: h, body: null, headersTimeout: up.responseTimeout }, handler);
  });
}

function set(h: string[], name: string, value: string): void {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) { h[i + 1] = value; return; }
  h.push(name, value);
}
