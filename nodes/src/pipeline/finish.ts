/** Once per request, when it is over: metrics, policy log hooks, the access log. */
import { performance } from 'node:perf_hooks'; // the global is a getter: one lookup per call
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';

export function finish(rt: Runtime, ctx: RequestContext): void {
  if (ctx.done) return;
  ctx.done = true;
  rt.inflight--;
  const now = performance.now();
  const route = ctx.route;
  const upstreamSec = ctx.upstreamEnd > 0 ? (ctx.upstreamEnd - ctx.upstreamStart) / 1000 : -1;
  (route ? route.stats : rt.metrics.routes.get('_unmatched')).record(ctx.status, (now - ctx.start) / 1000, upstreamSec);
  if (route && route.log.length) for (const h of route.log) {
    try { h(ctx); } catch (err) { rt.logger.error({ err, route: route.name }, 'log hook failed'); }
  }
  if (ctx.trace !== undefined) ctx.trace.end(ctx, now);
  rt.accessLog.write(ctx, now);
}
