/**
 * traffic-split (phase upstream): send a weighted share of the route's traffic to other
 * upstreams (canary, blue/green) by setting ctx.upstream (docs/policies/traffic-split.md).
 * Upstream names are checked at create(): a split to an upstream that does not exist is
 * refused with the config, never discovered by a request. With `sticky`, a missing key
 * (no consumer, no header) falls back to the client IP, as rate-limit does.
 */
import type { PolicyDefinition, PolicyHandlers } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import type { UpstreamRuntime } from '../../upstream/upstream.ts';
import { HashedWeighted, SmoothWeighted } from './pick.ts';
import { spec, type Config } from './spec.ts';



function stickyKey(spec: string): (ctx: RequestContext) => string {
  if (spec === 'ip') return (ctx) => ctx.clientIp;
  if (spec === 'consumer') return (ctx) => ctx.consumer?.name ?? ctx.clientIp;
  const name = spec.slice('header:'.length).toLowerCase();
  return (ctx) => {
    const v = ctx.req.headers[name];
    const s = typeof v === 'string' ? v : v?.[0];
    return s ? s : ctx.clientIp;
  };
}

export const trafficSplit: PolicyDefinition<Config> = {
  ...spec,
  create(config, deps) {
    const where = `routes.${deps.routeName}.policies.traffic-split.upstreams`;
    const items = config.upstreams.map((u, i) => {
      const up = deps.upstreams.get(u.name);
      if (!up) throw new Error(`${where}[${i}].name: unknown upstream "${u.name}"`);
      return { value: up, weight: u.weight };
    });
    const live = items.filter((i) => i.weight > 0);
    if (live.length === 1) {
      const only: UpstreamRuntime = live[0]!.value;
      return Object.freeze<PolicyHandlers>({ request(ctx) { ctx.upstream = only; } });
    }
    if (config.sticky) {
      const key = stickyKey(config.sticky);
      const table = new HashedWeighted(live);
      return Object.freeze<PolicyHandlers>({ request(ctx) { ctx.upstream = table.pick(key(ctx)); } });
    }
    const rr = new SmoothWeighted(live);
    return Object.freeze<PolicyHandlers>({ request(ctx) { ctx.upstream = rr.next(); } });
  },
};
