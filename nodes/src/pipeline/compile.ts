/**
 * Config → immutable Snapshot (architecture: "compiles either source into an immutable
 * snapshot and swaps it atomically"). Everything here runs at load time: policy create(),
 * route table, rewrite templates, upstream runtimes. A throw here rejects the whole
 * config and the running snapshot keeps serving.
 */
import type { Logger } from 'pino';
import type { GatewayConfig, Route } from '../schema/model.ts';
import { Router } from '../router/index.ts';
import { policies } from '../policies/registry.ts';
import { PHASES, type HookResult, type LocalReply, type PolicyHandlers } from '../request/policy.ts';
import type { CompiledRoute, RequestHook, Snapshot } from '../request/route.ts';
import type { RequestContext } from '../request/context.ts';
import { UpstreamRuntime } from '../upstream/upstream.ts';
import type { PoolRegistry } from '../upstream/target.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { compileTemplate } from '../core/template.ts';

export interface CompileDeps {
  logger: Logger;
  metrics: Metrics;
  pools: PoolRegistry;
  baseDir: string;
  services: Record<string, unknown>;
  /** Upstream runtimes of the running snapshot, reused when their config is unchanged. */
  previous?: Snapshot | undefined;
}

export function compileSnapshot(config: GatewayConfig, revision: number, deps: CompileDeps): Snapshot {
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const [name, cfg] of Object.entries(config.upstreams ?? {})) {
    const prev = deps.previous?.upstreams.get(name);
    // Reuse keeps balancer position, discovered targets and breaker state across reloads.
    upstreams.set(name, prev && JSON.stringify(prev.config) === JSON.stringify(cfg) ? prev : new UpstreamRuntime(name, cfg, { pools: deps.pools, metrics: deps.metrics, logger: deps.logger, services: deps.services, baseDir: deps.baseDir }));
  }
  const closers: PolicyHandlers[] = [];
  const routes = new Map<string, CompiledRoute>();
  const entries: Array<{ spec: import('../router/index.ts').RouteSpec; value: CompiledRoute }> = [];
  try {
    for (const [name, r] of Object.entries(config.routes ?? {})) {
      const compiled = compileRoute(name, r, config, upstreams, deps, closers);
      routes.set(name, compiled);
      entries.push({
        spec: {
          name,
          hosts: r.match.hosts?.map((h) => h.toLowerCase()),
          paths: r.match.paths,
          methods: r.match.methods,
          headers: r.match.headers ? Object.fromEntries(Object.entries(r.match.headers).map(([k, v]) => [k.toLowerCase(), v])) : undefined,
          priority: r.priority ?? 0,
        },
        value: compiled,
      });
    }
  } catch (err) {
    for (const h of closers) void h.close?.();
    throw err;
  }
  const router = new Router(entries);
  return Object.freeze({
    revision,
    config,
    router,
    routes,
    upstreams,
    async close() { await Promise.all(closers.map((h) => h.close?.())); },
  });
}

function compileRoute(name: string, r: Route, config: GatewayConfig, upstreams: Map<string, UpstreamRuntime>, deps: CompileDeps, closers: PolicyHandlers[]): CompiledRoute {
  const active: Array<{ phase: number; priority: number; name: string; h: PolicyHandlers; enforce: boolean }> = [];
  for (const [pname, pcfg] of Object.entries(r.policies ?? {})) {
    const def = policies.get(pname);
    if (!def) throw new Error(`routes.${name}.policies.${pname}: unknown policy`);
    const cfg = (pcfg ?? {}) as Record<string, unknown>;
    const h = def.create(cfg, { routeName: name, config, logger: deps.logger.child({ route: name, policy: pname }), baseDir: deps.baseDir, services: deps.services, upstreams, metrics: deps.metrics });
    closers.push(h);
    active.push({ phase: PHASES.indexOf(def.phase), priority: def.priority, name: pname, h, enforce: cfg.enforce !== false });
  }
  active.sort((a, b) => a.phase - b.phase || b.priority - a.priority || a.name.localeCompare(b.name));
  const request: RequestHook[] = [];
  const authn: RequestHook[] = [];
  for (const p of active) {
    const fn = p.h.request;
    if (!fn) continue;
    const hook = fn.bind(p.h);
    const wrapped = p.enforce ? counted(hook, deps.metrics, name, p.name) : shadow(hook, deps, name, p.name);
    if (p.phase === AUTHN && p.enforce) {
      // Several authentication policies on a route: any one may pass (Kong/APISIX semantics).
      if (!authn.length) request.push((ctx) => anyOf(authn, ctx, 0, undefined));
      authn.push(wrapped);
    } else request.push(wrapped);
  }
  // Response hooks run in reverse phase order (onion), so the outermost policy sees the final head.
  const response = active.filter((p) => p.h.response).reverse().map((p) => p.h.response!.bind(p.h));
  const log = active.filter((p) => p.h.log).map((p) => p.h.log!.bind(p.h));
  const fixedHeaders: string[] = [];
  for (const p of active) {
    if (!p.enforce || !p.h.responseHeaders) continue;
    for (const [k, v] of Object.entries(p.h.responseHeaders)) fixedHeaders.push(k.toLowerCase(), v);
  }
  return Object.freeze({
    name,
    upstream: r.upstream ? upstreams.get(r.upstream) : undefined,
    request,
    response,
    fixedHeaders: Object.freeze(fixedHeaders),
    log,
    stripPrefix: r.rewrite?.stripPrefix?.replace(/\/+$/, '') || undefined,
    rewrite: r.rewrite?.path ? compileTemplate(r.rewrite.path) : undefined,
    stats: deps.metrics.routes.get(name),
  });
}

const AUTHN = PHASES.indexOf('authenticate');

/**
 * Run authentication hooks until one identifies a consumer (sets ctx.consumer) or lets the
 * request through; if every one refuses, answer with the first refusal and every
 * challenge (WWW-Authenticate) so the client learns each accepted scheme (RFC 9110 §11.6.1).
 */
function anyOf(hooks: readonly RequestHook[], ctx: RequestContext, i: number, first: LocalReply | undefined): HookResult | Promise<HookResult> {
  for (; i < hooks.length; i++) {
    const r = hooks[i]!(ctx);
    if (isPromise(r)) {
      const at = i;
      return r.then((v) => (v ? anyOf(hooks, ctx, at + 1, merge(first, v)) : undefined));
    }
    if (!r) return undefined; // passed
    first = merge(first, r);
  }
  return first;
}

function merge(first: LocalReply | undefined, next: LocalReply): LocalReply {
  if (!first) return next;
  const a = first.headers?.['www-authenticate'];
  const b = next.headers?.['www-authenticate'];
  if (!b) return first;
  const all = [...(a === undefined ? [] : Array.isArray(a) ? a : [a]), ...(Array.isArray(b) ? b : [b])];
  return { ...first, headers: { ...first.headers, 'www-authenticate': all } };
}

function isPromise(v: unknown): v is Promise<HookResult> {
  return typeof (v as Promise<unknown> | undefined)?.then === 'function';
}

/** Enforcing policy: count denials (rare path only; allow costs nothing extra). */
function counted(hook: RequestHook, metrics: Metrics, route: string, policy: string): RequestHook {
  const deny = metrics.policyDecisions.labels(route, policy, 'deny');
  const note = (r: HookResult): HookResult => { if (r && r.code) deny.inc(); return r; };
  return (ctx) => {
    const r = hook(ctx);
    return isPromise(r) ? r.then(note) : note(r);
  };
}

/** Shadow mode (`enforce: false`): evaluate, log and count, but let the request through. */
function shadow(hook: RequestHook, deps: CompileDeps, route: string, policy: string): RequestHook {
  const c = deps.metrics.policyDecisions.labels(route, policy, 'shadow_deny');
  const log = deps.logger.child({ route, policy, shadow: true });
  const note = (ctx: RequestContext, r: HookResult): undefined => {
    if (r && (r.code || (r.status ?? 200) >= 400)) { c.inc(); log.info({ requestId: ctx.id, code: r.code }, 'shadow mode: would have denied'); }
    return undefined;
  };
  return (ctx) => {
    const r = hook(ctx);
    return isPromise(r) ? r.then((v) => note(ctx, v)) : note(ctx, r);
  };
}
