/**
 * The handler of one proxied request on the target's HTTP/1.1 pool (upstream/h1): streams the response head and body to the
 * client, maps failures to the gateway's codes, gives the target's breaker its verdict, and,
 * on upstreams with `retries`, runs the attempt loop: a retryable failure before the response
 * head is dropped and the request sent again after a backoff (attempts.ts holds the state,
 * retry.ts decides, budget.ts limits). Once the head is written there is no retry.
 */
import { performance } from 'node:perf_hooks'; // the global is a getter: one lookup per call
import type { H1Control, H1Handler } from '../upstream/h1/pool.ts';
import { headersTimeout } from '../upstream/h1/errors.ts';
import { upstreamErrorCode } from '../upstream/error-code.ts';
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';
import type { Target } from '../upstream/target.ts';
import type { BreakerState } from '../upstream/breaker/types.ts';
import { failureKind } from '../upstream/retry.ts';
import type { Retrying } from '../upstream/attempts.ts';
import type { UpstreamRuntime } from '../upstream/upstream.ts';
import type { ErrorCode } from '../errors.ts';
import { forwardableResponseHeaders, flatToObject } from '../http/headers.ts';
import { assembleHead } from './response-head.ts';
import { sendReply } from './reply.ts';
import { finish } from './finish.ts';
import { clientOf, unwatchClient, watchClient, type ClientWatcher } from '../http/client-gone.ts';

export class ProxyHandler implements H1Handler, ClientWatcher {
  private readonly rt: Runtime;
  private readonly ctx: RequestContext;
  private readonly up: UpstreamRuntime;
  /** The current try's target. */
  private target: Target;
  /** The current try's breaker and admission ticket; undefined once its verdict is recorded. */
  private breaker: BreakerState | undefined;
  private ticket: number;
  private tryStart: number;
  /** The current try's exchange (abort, resume); undefined before dispatch and between tries. */
  private control: H1Control | undefined = undefined;
  private ended = false;
  retry: Retrying | undefined = undefined;

  constructor(rt: Runtime, ctx: RequestContext, up: UpstreamRuntime, target: Target, ticket: number) {
    this.rt = rt;
    this.ctx = ctx;
    this.up = up;
    this.target = target;
    this.breaker = ticket >= 0 ? target.breaker : undefined;
    this.ticket = ticket;
    this.tryStart = ctx.upstreamStart;
    watchClient(clientOf(ctx.req), this);
  }

  /** The client went away first: stop the upstream call (or the wait for the next try) too. */
  onClientGone(): void {
    if (this.ended) return;
    this.ended = true;
    const r = this.retry;
    if (r !== undefined && r.timer !== undefined) {
      // Between tries: nothing in flight.
      clearTimeout(r.timer);
      r.timer = undefined;
    } else {
      this.target.inflight--;
      this.noVerdict();
      this.control?.abort(new Error('client closed'));
    }
    this.ctx.trace?.endTry('cancelled');
    r?.end();
    this.ctx.tap?.abort();
    finish(this.rt, this.ctx);
  }

  /** The client is behind: a 'drain' listener is set and the send deadline watches it. */
  private behind = false;

  private readonly onDrain = (): void => {
    this.behind = false;
    this.rt.sends.progress(this.ctx.res);
    this.control?.resume();
  };

  onConnect(control: H1Control): void {
    this.control = control;
    // The client left, or the try timed out, before the try was sent: do not send.
    if (this.ended) control.abort(new Error('client closed'));
    else if (this.retry !== undefined && this.retry.timedOut) control.abort(headersTimeout());
  }

  /**
   * An interim response before the final one (RFC 9110 §15.2): `103 Early Hints` goes on to
   * the client with its end-to-end fields (Link, ...), `102 Processing` as is, both only
   * while nothing else has been sent. They are never stored by the cache (a final response is).
   */
  onInfo(statusCode: number, rawHeaders: string[]): void {
    const res = this.ctx.res as { headersSent: boolean; writeEarlyHints?: (h: Record<string, string | string[]>) => void; writeProcessing?: () => void };
    if (this.ended || res.headersSent) return;
    if (statusCode === 103 && typeof res.writeEarlyHints === 'function') res.writeEarlyHints(flatToObject(forwardableResponseHeaders(rawHeaders)));
    else if (statusCode === 102 && typeof res.writeProcessing === 'function') res.writeProcessing();
  }

  onHeaders(statusCode: number, rawHeaders: string[]): boolean {
    const ctx = this.ctx;
    if (this.ended) return false;
    // 1xx informational responses (other than 101) are not forwarded here; wait for the final one.
    if (statusCode < 200) return true;
    ctx.trace?.tryHead(statusCode);
    if (this.breaker !== undefined) this.verdict(statusCode >= 500);
    const r = this.retry;
    if (r !== undefined) {
      // Decided before a byte goes to the client: once the head is written there is no retry.
      // The try's timer keeps running while the dropped body is read: a stalled one cannot hold the retry up.
      if (this.mayRetry(r, r.policy.retriesStatus(statusCode))) { r.discarding = true; return true; }
      r.clearTryTimer();
    }
    ctx.upstreamEnd = performance.now();
    // The one head assembly (response-head.ts): the same steps and order as a local reply's.
    const headers = assembleHead(this.rt, ctx, statusCode, forwardableResponseHeaders(rawHeaders), false);
    statusCode = ctx.status;
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
    if (this.retry !== undefined && this.retry.discarding) return true;
    if (this.ctx.tap) this.ctx.tap.data(chunk);
    const res = this.ctx.res;
    if (res.write(chunk)) return true;
    if (!this.behind) {
      this.behind = true;
      res.once('drain', this.onDrain);
      this.rt.sends.stall(res);
    }
    // Proxy buffering: keep reading the upstream while the client's backlog fits in
    // proxyBuffer, so a response that fits completes and its upstream connection goes back
    // to the pool however slowly the client reads.
    return res.writableLength < this.rt.proxyBuffer;
  }

  /** Trailers of an HTTP/2 upstream response (gRPC's grpc-status), passed on before the end. */
  onTrailers(trailers: string[]): void {
    if (this.ended || (this.retry !== undefined && this.retry.discarding)) return;
    const t: Record<string, string> = {};
    for (let i = 0; i < trailers.length; i += 2) t[trailers[i]!] = trailers[i + 1]!;
    try { this.ctx.res.addTrailers(t); } catch { /* a trailer Node refuses is dropped */ }
  }

  onComplete(tail?: Buffer): void {
    if (this.ended) return;
    this.target.inflight--;
    this.ctx.trace?.endTry();
    const r = this.retry;
    // Reading the dropped response to its end keeps the keep-alive connection usable.
    if (r !== undefined && r.discarding) return this.backoff(r);
    this.ended = true;
    unwatchClient(clientOf(this.ctx.req), this);
    r?.end();
    if (this.behind) this.rt.sends.buffered++;
    if (tail === undefined) this.ctx.res.end();
    else {
      this.ctx.tap?.data(tail);
      this.ctx.res.end(tail);
    }
    this.ctx.tap?.end();
    finish(this.rt, this.ctx);
  }

  onError(err: Error): void {
    if (this.ended) return;
    this.ctx.trace?.endTry(err);
    const r = this.retry;
    if (r !== undefined) {
      if (r.discarding) { this.target.inflight--; return this.backoff(r); }
      r.clearTryTimer();
    }
    const code = this.ctx.errorCode === 'GW_PAYLOAD_TOO_LARGE' ? 'GW_PAYLOAD_TOO_LARGE' : upstreamErrorCode(err);
    if (code === 'GW_PAYLOAD_TOO_LARGE' || code === 'GW_UPSTREAM_OVERLOADED') {
      // The client's fault, or the gateway's own queue bound: nothing the target did.
      if (code === 'GW_UPSTREAM_OVERLOADED') this.rt.metrics.upstreamErrors.labels(this.up.name, code).inc();
      this.noVerdict();
    } else {
      this.rt.metrics.upstreamErrors.labels(this.up.name, code).inc();
      if (this.breaker !== undefined) this.verdict(true);
      if (r !== undefined && !this.ctx.res.headersSent && this.mayRetry(r, r.policy.retriesFailure(failureKind(err)))) {
        this.target.inflight--;
        return this.backoff(r);
      }
    }
    this.fail(code);
  }

  /** Called by the backoff timer: send the next try to the target chosen at the decision. */
  nextTry(): void {
    const r = this.retry!;
    r.timer = undefined;
    if (this.ended) return;
    const t = r.next!;
    this.target = t;
    this.breaker = r.nextBreaker;
    this.ticket = r.nextTicket;
    r.next = undefined;
    r.nextBreaker = undefined;
    r.nextTicket = -1;
    r.tried.push(t);
    const o = r.opts;
    // The target's Host comes from the new target's pool; a preserved or policy-set Host stays.
    const now = performance.now();
    r.startTry(now);
    this.tryStart = now;
    t.inflight++;
    this.ctx.target = t.origin;
    if (this.ctx.trace !== undefined) this.ctx.trace.retry(this.ctx, o.headers, this.up.name, t);
    t.h1.dispatch(o, this);
  }

  /**
   * The try's timer fired before its response head: end the try as a headers timeout (504 or
   * retry). While a dropped response is being read, it cuts that read short: the retry follows.
   */
  tryTimedOut(): void {
    const r = this.retry!;
    r.tryTimer = undefined;
    if (this.ended) return;
    if (this.control !== undefined) this.control.abort(headersTimeout());
    else r.timedOut = true; // not dispatched yet: onConnect aborts it
  }

  /**
   * Retry this failure? Only if the policy retries it, tries are left, the wait fits before
   * the deadline, the budget has a slot and some target admits the request.
   */
  private mayRetry(r: Retrying, wanted: boolean): boolean {
    // The retry that held a budget slot has its answer now.
    if (r.slot) { r.slot = false; r.budget.release(); }
    if (!wanted || r.left === 0) return false;
    const wait = r.policy.delay(r.made);
    if (performance.now() + wait >= r.deadline) return false;
    if (!r.budget.tryAcquire()) {
      r.left = 0;
      this.up.exhausted?.inc();
      return false;
    }
    const up = this.up;
    const next = up.pickAgain(this.ctx, r.tried);
    if (next === undefined) { r.budget.release(); return false; }
    r.slot = true;
    r.left--;
    r.made++;
    r.wait = wait;
    r.next = next;
    r.nextTicket = up.ticket;
    r.nextBreaker = up.ticket >= 0 ? next.breaker : undefined;
    up.retried?.inc();
    return true;
  }

  private backoff(r: Retrying): void {
    r.clearTryTimer();
    r.discarding = false;
    this.control = undefined;
    r.timer = setTimeout(r.fire, r.wait);
  }

  /** Record this try's outcome in its target's breaker. */
  private verdict(failed: boolean): void {
    this.breaker!.record(this.ticket, failed, performance.now() - this.tryStart);
    this.breaker = undefined;
  }

  /** This try ends without an outcome that says anything about the target. */
  private noVerdict(): void {
    if (this.breaker === undefined) return;
    this.breaker.release(this.ticket);
    this.breaker = undefined;
  }

  private fail(code: ErrorCode): void {
    if (this.ended) return;
    this.ended = true;
    unwatchClient(clientOf(this.ctx.req), this);
    this.target.inflight--;
    this.retry?.end();
    if (this.ctx.upstreamEnd === 0) this.ctx.upstreamEnd = performance.now();
    this.ctx.errorCode = code;
    this.ctx.tap?.abort();
    sendReply(this.rt, this.ctx, { code });
  }
}

