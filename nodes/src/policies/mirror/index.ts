/**
 * mirror (phase upstream, runs last): send a copy of a share of the route's requests to
 * another upstream, fire and forget (docs/policies/mirror.md). The copy goes through the
 * mirror target's own undici pool with a handler that discards the answer; it never
 * delays, changes or fails the client's request: its outcomes are only counted in
 * gatehouse_mirror_requests_total{route,upstream,outcome=ok|error|dropped|skipped_body}.
 *
 * Only requests whose body is known are copied (none, or ctx.body already buffered by a
 * policy): copying a streaming body would mean buffering or slowing the real request.
 * At most `maxConcurrent` copies are in flight; above that a copy is dropped, so a slow
 * mirror cannot pile up memory or sockets.
 */
import type { Dispatcher } from 'undici';
import type { PolicyDefinition, PolicyHandlers } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import type { Target } from '../../upstream/target.ts';
import type { UpstreamRuntime } from '../../upstream/upstream.ts';
import { forwardableRequestHeaders } from '../../http/headers.ts';
import { pushGatewayHeaders } from '../../request/upstream-request.ts';
import { upstreamPath } from '../../request/upstream-path.ts';
import { spec, type Config } from './spec.ts';



interface Tally { inc(): void }

/**
 * Discards the mirror's answer; counts how it ended. A plain object per copy, no promise.
 * The verdict also goes to the target's breaker (when it has one), as for any call to
 * that upstream: a failing mirror opens its breaker and copies stop until it recovers.
 */
class MirrorHandler implements Dispatcher.DispatchHandler {
  private readonly m: Mirror;
  private readonly target: Target;
  private readonly ticket: number;
  private readonly start = performance.now();
  private failed = false;
  private judged = false;
  constructor(m: Mirror, target: Target, ticket: number) { this.m = m; this.target = target; this.ticket = ticket; }
  onConnect(): void { /* nothing to abort for: the copy runs to its end or its timeout */ }
  onHeaders(status: number): boolean {
    if (status < 200) return true;
    this.failed = status >= 500;
    this.judge();
    return true;
  }
  onData(): boolean { return true; }
  onComplete(): void { this.m.done(this.target, this.failed ? this.m.error : this.m.ok); }
  onError(): void {
    this.failed = true;
    this.judge();
    this.m.done(this.target, this.m.error);
  }
  private judge(): void {
    if (this.judged) return;
    this.judged = true;
    if (this.ticket >= 0) this.target.breaker?.record(this.ticket, this.failed, performance.now() - this.start);
  }
}

class Mirror {
  readonly ok: Tally;
  readonly error: Tally;
  readonly dropped: Tally;
  readonly skipped: Tally;
  private readonly up: UpstreamRuntime;
  private readonly percent: number;
  private readonly max: number;
  private inflight = 0;
  private acc = 0;

  constructor(up: UpstreamRuntime, percent: number, max: number, tally: (outcome: string) => Tally) {
    this.up = up;
    this.percent = percent;
    this.max = max;
    this.ok = tally('ok');
    this.error = tally('error');
    this.dropped = tally('dropped');
    this.skipped = tally('skipped_body');
  }

  done(target: Target, outcome: Tally): void {
    this.inflight--;
    target.inflight--;
    outcome.inc();
  }

  maybeCopy(ctx: RequestContext): void {
    // An accumulator, not a random draw: exactly `percent` of requests, evenly spread.
    this.acc += this.percent;
    if (this.acc < 100) return;
    this.acc -= 100;
    const req = ctx.req;
    let body: Buffer | null = null;
    if (ctx.body !== undefined) body = ctx.body;
    else if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
      this.skipped.inc();
      return;
    }
    if (this.inflight >= this.max) { this.dropped.inc(); return; }
    const target = this.up.pick(ctx);
    if (!target) { this.error.inc(); return; } // none healthy, or its breaker is open
    const ticket = this.up.ticket;
    const h: string[] = [];
    forwardableRequestHeaders(req.headers, h, ctx.dropHeaders);
    pushGatewayHeaders(h, ctx, this.up.preserveHost, target.hostHeader);
    h.push('x-gatehouse-mirror', '1');
    if (body) h.push('content-length', String(body.length));
    const u = ctx.upstreamHeaders;
    if (u) for (const k in u) { const i = nameIndex(h, k); if (i >= 0) h[i + 1] = u[k]!; else h.push(k, u[k]!); }
    this.inflight++;
    target.inflight++;
    const handler = new MirrorHandler(this, target, ticket);
    try {
      target.pool.dispatch({
        origin: target.origin,
        path: upstreamPath(ctx),
        method: ctx.method as Dispatcher.HttpMethod,
        headers: h,
        body,
        headersTimeout: this.up.responseTimeout,
        bodyTimeout: this.up.idleTimeout,
      }, handler);
    } catch {
      handler.onError();
    }
  }
}

function nameIndex(h: readonly string[], name: string): number {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return i;
  return -1;
}

export const mirror: PolicyDefinition<Config> = {
  ...spec,
  create(config, deps) {
    const up = deps.upstreams.get(config.upstream);
    if (!up) throw new Error(`routes.${deps.routeName}.policies.mirror.upstream: unknown upstream "${config.upstream}"`);
    const counter = deps.metrics.counter('gatehouse_mirror_requests_total', 'Mirrored request copies by outcome: ok, error (transport or 5xx), dropped (maxConcurrent reached), skipped_body (streaming body).', ['route', 'upstream', 'outcome']);
    const m = new Mirror(up, config.percent ?? 100, config.maxConcurrent ?? 64, (o) => counter.labels(deps.routeName, up.name, o));
    return Object.freeze<PolicyHandlers>({ request(ctx) { m.maybeCopy(ctx); } });
  },
};
