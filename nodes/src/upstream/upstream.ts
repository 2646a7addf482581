/**
 * An upstream as the data plane sees it: its targets, balancer and call settings, all
 * compiled from config once. Discovery may replace the target list at any time
 * (setTargets); the balancer is rebuilt then, never per request.
 */
import type { Upstream as UpstreamConfig } from '../schema/model.ts';
import { parseDuration } from '../schema/duration.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { Target, type PoolRegistry, type PoolOptions } from './target.ts';
import { ConsistentHash, LeastRequest, RoundRobin, type Balancer } from './balancers.ts';

export interface TargetSpec { url: string; weight?: number }

export class UpstreamRuntime {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly preserveHost: boolean;
  readonly responseTimeout: number;
  readonly idleTimeout: number;
  readonly poolOptions: PoolOptions;
  targets: readonly Target[] = [];
  private balancer: Balancer = new RoundRobin([]);
  private readonly hashKey: ((ctx: RequestContext) => string | undefined) | undefined;
  private readonly pools: PoolRegistry;

  constructor(name: string, config: UpstreamConfig, pools: PoolRegistry) {
    this.name = name;
    this.config = config;
    this.pools = pools;
    this.preserveHost = config.hostHeader === 'preserve';
    this.responseTimeout = parseDuration(config.timeouts?.response ?? '30s');
    this.idleTimeout = parseDuration(config.timeouts?.idle ?? '60s');
    this.poolOptions = {
      connections: config.connections ?? 128,
      connectTimeout: parseDuration(config.timeouts?.connect ?? '2s'),
      headersTimeout: this.responseTimeout,
      bodyTimeout: this.idleTimeout,
      keepAliveTimeout: 4_000,
    };
    this.hashKey = config.balance === 'consistent-hash' ? hashKeyFn(config.hashOn ?? 'ip') : undefined;
    this.setTargets(config.targets ?? []);
  }

  /** Replace the target list (static config or discovery). Keeps Target objects whose URL stays. */
  setTargets(specs: readonly TargetSpec[]): void {
    const old = new Map(this.targets.map((t) => [t.url, t]));
    this.targets = specs.map((s) => {
      const url = s.url.replace(/\/$/, '');
      const prev = old.get(url);
      if (prev && prev.weight === (s.weight ?? 1)) return prev;
      return new Target(url, s.weight ?? 1, this.pools.get(new URL(url).origin, this.poolOptions));
    });
    const b = this.config.balance ?? 'round-robin';
    this.balancer = b === 'least-request' ? new LeastRequest(this.targets) : b === 'consistent-hash' ? new ConsistentHash(this.targets) : new RoundRobin(this.targets);
  }

  pick(ctx: RequestContext): Target | undefined {
    return this.balancer.pick(this.hashKey?.(ctx));
  }
}

function hashKeyFn(on: string): (ctx: RequestContext) => string | undefined {
  if (on === 'ip') return (ctx) => ctx.clientIp;
  if (on === 'consumer') return (ctx) => ctx.consumer?.name;
  if (on === 'path') return (ctx) => ctx.path;
  const name = on.slice('header:'.length).toLowerCase();
  return (ctx) => {
    const v = ctx.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
}
