/**
 * rate-limit (phase traffic): GCRA limits per key (docs/policies/rate-limit.md,
 * docs/decisions/0004-rate-limit-algorithm.md). Everything is built in create(): the key
 * function, one counter per limit, the constant RateLimit-Policy value and the metric
 * children; a request costs one key lookup and one table update per limit.
 *
 * Every response of the route carries RateLimit-Policy (a constant response header of the
 * route, so replies made before this phase have it too) and, once the request was counted, RateLimit; a refusal
 * is 429 GW_RATE_LIMITED with Retry-After. Shadow mode (`enforce: false`) counts what it
 * would refuse and stays invisible to clients: no headers.
 */
import type { LocalReply, PolicyDefinition, PolicyDeps, PolicyHandlers } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import type { CounterStore, Decision, RateCounter } from '../../cluster/counters/store.ts';
import { clusterCounterStore, nodeCounterStore } from '../../cluster/counters/services.ts';
import type { Config } from './schema.ts';
import { spec } from './spec.ts';
import { limitsOf } from './limits.ts';
import { compileKey } from './key.ts';
import { policyHeader, rateItemPrefix, seconds } from './headers.ts';
import { rateLimitMetrics } from './metrics.ts';

export const DEFAULT_MAX_KEYS = 100_000;


let warnedNoCluster = false;

function storeFor(c: Config, deps: PolicyDeps): CounterStore {
  if (c.scope !== 'cluster') return nodeCounterStore(deps.services);
  const s = clusterCounterStore(deps.services);
  if (s) return s;
  if (!warnedNoCluster) {
    warnedNoCluster = true;
    deps.logger.warn('rate-limit scope "cluster": no cluster counter store on this node; limits are per node until one is configured');
  }
  return nodeCounterStore(deps.services);
}

function newDecision(): Decision { return { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 }; }

export const rateLimit: PolicyDefinition<Config> = {
  ...spec,
  create(config, deps) {
    const where = `routes.${deps.routeName}.policies.rate-limit`;
    const limits = limitsOf(config, where);
    const by = config.by ?? 'consumer';
    const keyOf = compileKey(by, deps.routeName);
    const store = storeFor(config, deps);
    const maxKeys = config.maxKeys ?? DEFAULT_MAX_KEYS;
    const byId = JSON.stringify(by);
    const ids = limits.map((l) => `${deps.routeName}\n${l.name}\n${l.limit}/${l.windowMs}/${l.burst}/${byId}/${maxKeys}`);
    const counters: RateCounter[] = limits.map((l, i) => store.open({ id: ids[i]!, interval: l.windowMs / l.limit, burst: l.burst, maxKeys }));
    const metrics = rateLimitMetrics(deps.metrics);
    const owner = {};
    limits.forEach((l, i) => metrics.register(owner, ids[i]!, deps.routeName, l.name, counters[i]!));

    const shadow = config.enforce === false;
    const headers = !shadow && config.headers !== false;
    const limited = metrics.limited.labels(deps.routeName, shadow ? 'shadow_limited' : 'limited');
    const decisions = limits.map(newDecision);
    const prefixes = limits.map((l) => rateItemPrefix(l.name));
    const POLICY = policyHeader(limits);
    const n = counters.length;

    function refuse(ctx: RequestContext, i: number): LocalReply {
      limited.inc();
      const d = decisions[i]!;
      if (headers) ctx.setResponseHeader('ratelimit', `${prefixes[i]}${d.remaining};t=${seconds(d.resetMs)}`);
      // Retry-After is whole seconds (RFC 9110 §10.2.3); never 0 on a refusal.
      return { code: 'GW_RATE_LIMITED', headers: { 'retry-after': String(Math.max(1, seconds(d.retryAfterMs))) } };
    }

    const handlers: PolicyHandlers = {
      request(ctx) {
        const key = keyOf(ctx);
        // The request's arrival on the same clock (one read saved): microseconds old, or as
        // old as an async policy before this one made it wait; it is then counted at arrival.
        const now = ctx.start;
        for (let i = 0; i < n; i++) {
          if (!counters[i]!.acquire(key, 1, now, decisions[i]!)) {
            // All limits must pass: give back what the earlier ones took.
            for (let j = 0; j < i; j++) counters[j]!.refund(key, 1, now);
            return refuse(ctx, i);
          }
        }
        if (!headers) return undefined;
        let v = prefixes[0]! + decisions[0]!.remaining + ';t=' + seconds(decisions[0]!.resetMs);
        for (let i = 1; i < n; i++) v += ', ' + prefixes[i]! + decisions[i]!.remaining + ';t=' + seconds(decisions[i]!.resetMs);
        ctx.setResponseHeader('ratelimit', v);
        return undefined;
      },
      close() {
        for (let i = 0; i < n; i++) { metrics.unregister(owner, ids[i]!); counters[i]!.close(); }
      },
    };
    if (headers) handlers.responseHeaders = { 'ratelimit-policy': POLICY };
    return Object.freeze(handlers);
  },
};
