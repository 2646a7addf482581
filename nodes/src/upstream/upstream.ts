/**
 * An upstream as the data plane sees it: its targets, balancer and call settings, all
 * compiled from config once. Discovery may replace the target list at any time
 * (setTargets); the balancer is rebuilt then, never per request.
 *
 * Resilience parts are optional and cost nothing when not configured: `retry` (the attempt
 * loop in pipeline/forward.ts), per-target breakers (BreakerState on each Target) and active health
 * checks. Breakers and health checks hold timers, so they run only between start() and
 * stop(), which the gateway calls when a snapshot using this runtime is applied and when no
 * snapshot uses it any more (lifecycle.ts). A runtime reused across reloads keeps its state.
 */
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { Upstream as UpstreamConfig } from '../schema/model.ts';
import { parseDuration } from '../schema/duration.ts';
import type { IncomingHttpHeaders } from 'node:http';
import type { LocalReply } from '../core/reply.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { PoolRegistry, Target, originOf, type PoolOptions } from './target.ts';
import { upstreamTls } from './h2/tls-options.ts';
import { ConsistentHash, LeastRequest, RoundRobin, type Balancer } from './balancers.ts';
import { RetryPolicy } from './retry.ts';
import { RetryBudget } from './budget.ts';
import { HealthChecker, healthSettings } from './health.ts';
import { breakerSettings, breakerStore, type BreakerServices } from './breaker/settings.ts';
import { OPEN, PHASE_NAMES, type BreakerSettings, type BreakerStore } from './breaker/types.ts';
import { upstreamMetrics, type UpstreamMetrics } from './metrics.ts';

export interface TargetSpec { url: string; weight?: number }

export interface UpstreamDeps {
  pools: PoolRegistry;
  metrics?: Metrics | undefined;
  logger?: Logger | undefined;
  /** Shared node services; `breakerStore` is the cluster breaker store when there is one. */
  services?: BreakerServices | undefined;
  /** Where relative paths in the config (upstream tls.ca) are resolved from. */
  baseDir?: string | undefined;
}

const NO_TARGETS: LocalReply = Object.freeze({ code: 'GW_UPSTREAM_UNAVAILABLE' });
const CIRCUIT_OPEN: LocalReply = Object.freeze({ code: 'GW_CIRCUIT_OPEN' });
const NO_HEALTHY: LocalReply = Object.freeze({ code: 'GW_NO_HEALTHY_UPSTREAM' });

export class UpstreamRuntime {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly preserveHost: boolean;
  /** Time to the response head; with retries, of all tries together. */
  readonly responseTimeout: number;
  readonly idleTimeout: number;
  readonly poolOptions: PoolOptions;
  targets: readonly Target[] = [];
  /** Set only when `retries` is configured: forward.ts runs its attempt loop only then. */
  readonly retry: RetryPolicy | undefined;
  readonly budget: RetryBudget | undefined;
  readonly retried: Counter.Internal | undefined;
  readonly exhausted: Counter.Internal | undefined;
  readonly breakerSettings: BreakerSettings | undefined;
  readonly health: HealthChecker | undefined;
  /**
   * Breaker admission ticket for the target the last pick()/pickAgain() returned (-1: the
   * target has no breaker). Read it right after the call; a field, not a tuple, so the hot
   * path allocates nothing.
   */
  ticket = -1;
  private balancer: Balancer = new RoundRobin([]);
  private readonly hashKey: ((ctx: BalanceInput) => string | undefined) | undefined;
  private readonly pools: PoolRegistry;
  private readonly store: BreakerStore | undefined;
  private readonly fallback: LocalReply | undefined;
  private readonly logger: Logger | undefined;
  private readonly um: UpstreamMetrics | undefined;
  private running = false;

  constructor(name: string, config: UpstreamConfig, deps: UpstreamDeps | PoolRegistry) {
    const d: UpstreamDeps = deps instanceof PoolRegistry ? { pools: deps } : deps;
    const where = `upstreams.${name}`;
    this.name = name;
    this.config = config;
    this.pools = d.pools;
    this.logger = d.logger;
    this.um = d.metrics ? upstreamMetrics(d.metrics) : undefined;
    this.preserveHost = config.hostHeader === 'preserve';
    this.responseTimeout = parseDuration(config.timeouts?.response ?? '30s');
    this.idleTimeout = parseDuration(config.timeouts?.idle ?? '60s');
    this.poolOptions = {
      connections: config.connections ?? 128,
      connectTimeout: parseDuration(config.timeouts?.connect ?? '2s'),
      headersTimeout: this.responseTimeout,
      bodyTimeout: this.idleTimeout,
      keepAliveTimeout: 4_000,
      ...upstreamTls(config.tls, d.baseDir, `${where}.tls`),
      maxPending: config.queue?.maxPending ?? 1024,
      maxWait: config.queue?.maxWait === undefined ? this.responseTimeout : parseDuration(config.queue.maxWait),
      h2Sessions: config.http2?.sessions ?? 4,
      ...(config.http2?.streamsPerSession === undefined ? {} : { h2StreamsPerSession: config.http2.streamsPerSession }),
      h2IdleTimeout: parseDuration(config.http2?.idleTimeout ?? '30s'),
    };
    this.hashKey = config.balance === 'consistent-hash' ? hashKeyFn(config.hashOn ?? 'ip') : undefined;
    if (config.retries) {
      this.retry = new RetryPolicy(config.retries, `${where}.retries`);
      this.budget = new RetryBudget(this.retry.percent, this.retry.minConcurrent);
    }
    this.retried = this.retry && this.um?.retries.labels(name, 'retried');
    this.exhausted = this.retry && this.um?.retries.labels(name, 'budget_exhausted');
    const cb = config.circuitBreaker;
    if (cb) {
      this.breakerSettings = breakerSettings(cb, `${where}.circuitBreaker`);
      this.store = breakerStore(this.breakerSettings.scope, d.services ?? {}, d.logger);
      if (cb.fallback) this.fallback = Object.freeze({ status: cb.fallback.status, body: cb.fallback.body ?? '', headers: cb.fallback.headers ?? {} });
    }
    if (config.healthCheck) {
      this.health = new HealthChecker(healthSettings(config.healthCheck, `${where}.healthCheck`), () => this.targets, (t, healthy) => {
        t.refresh();
        this.logger?.[healthy ? 'info' : 'warn']({ upstream: name, target: t.url }, healthy ? 'target healthy again: back in rotation' : 'target unhealthy: out of rotation');
      });
    }
    this.setTargets(config.targets ?? []);
  }

  get started(): boolean { return this.running; }

  /** Replace the target list (static config or discovery). Keeps Target objects whose URL stays. */
  setTargets(specs: readonly TargetSpec[]): void {
    const old = new Map(this.targets.map((t) => [t.url, t]));
    const next = specs.map((s) => {
      const url = s.url.replace(/\/$/, '');
      const prev = old.get(url);
      if (prev && prev.weight === (s.weight ?? 1)) return prev;
      return new Target(url, s.weight ?? 1, this.pools.get(originOf(url), this.poolOptions));
    });
    if (this.running && this.breakerSettings) {
      for (const t of this.targets) if (!next.includes(t)) this.detach(t);
      for (const t of next) if (!t.breaker) this.attach(t);
    }
    this.targets = next;
    const b = this.config.balance ?? 'round-robin';
    this.balancer = b === 'least-request' ? new LeastRequest(this.targets) : b === 'consistent-hash' ? new ConsistentHash(this.targets) : new RoundRobin(this.targets);
  }

  /** A target for this request, admitted by its breaker (see `ticket`), or undefined: none can take it. */
  pick(ctx: BalanceInput): Target | undefined {
    const key = this.hashKey?.(ctx);
    const t = this.balancer.pick(key);
    if (t === undefined || t.breaker === undefined) { this.ticket = -1; return t; }
    return this.admit(t, key);
  }

  /** A target for a retry: one not tried yet when any is available, else the balancer's choice. */
  pickAgain(ctx: BalanceInput, tried: readonly Target[]): Target | undefined {
    const key = this.hashKey?.(ctx);
    let t: Target | undefined;
    for (let i = 0; i < this.targets.length && t === undefined; i++) {
      const c = this.balancer.pick(key);
      if (c === undefined) break;
      if (!tried.includes(c)) t = c;
    }
    // consistent-hash keeps answering the same target for a key: look past it.
    if (t === undefined) for (const c of this.targets) if (c.available && c.weight > 0 && !tried.includes(c)) { t = c; break; }
    t ??= this.balancer.pick(key);
    if (t === undefined || t.breaker === undefined) { this.ticket = -1; return t; }
    return this.admit(t, key);
  }

  /** What to answer when pick() found nothing: the breaker's fallback, else the documented error. */
  noTargetReply(): LocalReply {
    if (this.fallback) return this.fallback;
    const code = this.noTargetCode();
    return code === 'GW_CIRCUIT_OPEN' ? CIRCUIT_OPEN : code === 'GW_NO_HEALTHY_UPSTREAM' ? NO_HEALTHY : NO_TARGETS;
  }

  /** Why pick() found nothing: no targets at all, some breaker open, or every target unhealthy. */
  noTargetCode(): 'GW_UPSTREAM_UNAVAILABLE' | 'GW_CIRCUIT_OPEN' | 'GW_NO_HEALTHY_UPSTREAM' {
    if (this.targets.length === 0) return 'GW_UPSTREAM_UNAVAILABLE';
    for (const t of this.targets) if (t.breaker !== undefined && !t.breaker.admitting) return 'GW_CIRCUIT_OPEN';
    return 'GW_NO_HEALTHY_UPSTREAM';
  }

  /** Begin breakers and health checks. Idempotent; called when a snapshot using this runtime is applied. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.um?.live.add(this);
    if (this.breakerSettings) for (const t of this.targets) this.attach(t);
    this.health?.start();
  }

  /** End timers and breaker state. Idempotent; called when no snapshot uses this runtime any more. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.um?.live.delete(this);
    this.health?.stop();
    for (const t of this.targets) this.detach(t);
  }

  /**
   * Balancers skip targets that do not admit, so a refusal here is rare (a cluster store
   * changed its mind between the balancer's read and this call): then pick again.
   */
  private admit(t: Target, key: string | undefined): Target | undefined {
    for (let i = 0; i <= this.targets.length; i++) {
      const b = t.breaker;
      if (b === undefined) { this.ticket = -1; return t; }
      const k = b.admit();
      if (k >= 0) { this.ticket = k; return t; }
      t.refresh();
      const n = this.balancer.pick(key);
      if (n === undefined) break;
      t = n;
    }
    this.ticket = -1;
    return undefined;
  }

  private attach(t: Target): void {
    const name = this.name;
    t.breaker = this.store!.create({ upstream: name, target: t.url }, this.breakerSettings!, (to, from) => {
      t.refresh();
      if (to === from) return;
      this.um?.transitions.labels(name, t.url, PHASE_NAMES[from], PHASE_NAMES[to]).inc();
      this.logger?.[to === OPEN ? 'warn' : 'info']({ upstream: name, target: t.url, from: PHASE_NAMES[from], to: PHASE_NAMES[to] }, 'circuit breaker transition');
    });
    t.refresh();
  }

  private detach(t: Target): void {
    t.breaker?.dispose();
    t.breaker = undefined;
    t.refresh();
  }
}

/**
 * What a balancer may key on (consistent hashing). The request context satisfies it; the
 * upstream library names no type of the layers above it.
 */
export interface BalanceInput {
  readonly clientIp: string;
  readonly consumer: { readonly name: string } | undefined;
  readonly path: string;
  readonly req: { readonly headers: IncomingHttpHeaders };
}

function hashKeyFn(on: string): (ctx: BalanceInput) => string | undefined {
  if (on === 'ip') return (ctx) => ctx.clientIp;
  if (on === 'consumer') return (ctx) => ctx.consumer?.name;
  if (on === 'path') return (ctx) => ctx.path;
  const name = on.slice('header:'.length).toLowerCase();
  return (ctx) => {
    const v = ctx.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
}
