/**
 * Config → immutable Snapshot (architecture: "compiles either source into an immutable
 * snapshot and swaps it atomically"). Everything here runs at load time: policy create(),
 * route table, rewrite templates, upstream runtimes. A throw here rejects the whole
 * config and the running snapshot keeps serving.
 */
import type { Logger } from 'pino';
import type { GatewayConfig, Route } from '../schema/model.ts';
import { Router, type RouteSpec } from '../router/index.ts';
import { carryMembers, sameJson } from '../core/same.ts';
import { policies } from '../policies/registry.ts';
import { PHASES, type HookResult, type LocalReply, type PolicyHandlers } from '../request/policy.ts';
import type { CompiledRoute, RequestHook, Snapshot } from '../request/route.ts';
import type { RequestContext } from '../request/context.ts';
import type { NodeServices } from '../request/services.ts';
import { UpstreamRuntime } from '../upstream/upstream.ts';
import type { PoolRegistry } from '../upstream/target.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { compileTemplate } from '../core/template.ts';
import { lineageFrom } from '../core/lineage.ts';

export interface CompileDeps {
  logger: Logger;
  metrics: Metrics;
  pools: PoolRegistry;
  baseDir: string;
  services: NodeServices;
  /** Upstream runtimes of the running snapshot, reused when their config is unchanged. */
  previous?: Snapshot | undefined;
  /** The caller has run carryOver against `previous` already (the gateway does, before validating). */
  carried?: boolean;
}

/**
 * What a compiled route was built from, so the next snapshot can tell whether it still
 * stands: the route's config object (carried over when unchanged, see carryOver), the
 * consumers object its authentication policies indexed, the upstream runtimes it names, and
 * its policy instances (reused one by one when only the consumers or runtimes changed).
 */
interface RouteOrigin {
  source: Route;
  spec: RouteSpec;
  consumers: GatewayConfig['consumers'];
  /** The proto sets it was compiled against (grpc-transcode reads them; never carried over, so any reload rebuilds those). */
  protos: GatewayConfig['protos'];
  refs: ReadonlyArray<readonly [string, UpstreamRuntime | undefined]>;
  policies: ReadonlyMap<string, PolicyHandlers>;
}
const origins = new WeakMap<CompiledRoute, RouteOrigin>();
const NO_POLICIES: ReadonlyMap<string, PolicyHandlers> = new Map();
/**
 * The policy instances a snapshot closes when it retires; a reused instance moves to the newer
 * snapshot. A holder, so a patch can hand the whole set on and leave the old snapshot only the
 * instances of the routes it replaced.
 */
interface Owned { set: Set<PolicyHandlers> }
const owned = new WeakMap<Snapshot, Owned>();
/** The router generation each snapshot was built with: a patch needs the table to still be that one. */
const routerGeneration = new WeakMap<Snapshot, number>();
/** The snapshot that may change each route map: a patch edits the running map in place and hands it on, as it does the router. */
const routesOwner = new WeakMap<ReadonlyMap<string, CompiledRoute>, Snapshot>();
/** Names of each snapshot's routes that read the consumers (authentication): a consumer edit recompiles those only. */
const consumerReaders = new WeakMap<Snapshot, ReadonlySet<string>>();
/** Past this many changed routes (or an eighth of the table) a full build is the cheaper path. */
const PATCH_MAX = 256;

/** Compiles and the reuse they managed (tests and the scale benchmark read it). */
export const compileStats = { routesCompiled: 0, routesReused: 0, policiesReused: 0 };

/**
 * `config` with every consumer, route and upstream that equals the running one replaced by
 * the running config's object (core/same.ts), so identity tells what did not change: the
 * consumer index, compiled routes and upstream runtimes keyed by those objects are reused.
 */
export function carryOver(config: GatewayConfig, prev: GatewayConfig | undefined): GatewayConfig {
  if (prev === undefined || prev === config) return config;
  const out: GatewayConfig = { ...config };
  if (config.consumers !== undefined) out.consumers = carryMembers(config.consumers, prev.consumers).value;
  if (config.routes !== undefined) out.routes = carryMembers(config.routes, prev.routes).value;
  if (config.upstreams !== undefined) out.upstreams = carryMembers(config.upstreams, prev.upstreams).value;
  return out;
}

export function compileSnapshot(input: GatewayConfig, revision: number, deps: CompileDeps): Snapshot {
  const prev = deps.previous;
  const config = deps.carried === true ? input : carryOver(input, prev?.config);
  const patched = prev && patchSnapshot(config, revision, deps, prev);
  if (patched) return patched;
  const upstreams = new Map<string, UpstreamRuntime>();
  for (const [name, cfg] of Object.entries(config.upstreams ?? {})) {
    const old = prev?.upstreams.get(name);
    // Reuse keeps balancer position, discovered targets and breaker state across reloads.
    upstreams.set(name, old && (old.config === cfg || sameJson(old.config, cfg)) ? old : new UpstreamRuntime(name, cfg, { pools: deps.pools, metrics: deps.metrics, logger: deps.logger, services: deps.services, baseDir: deps.baseDir }));
  }
  const closers = new Set<PolicyHandlers>();
  /** Instances taken over from the running snapshot: only its own ones are closed if this compile fails. */
  const taken = new Set<PolicyHandlers>();
  const routes = new Map<string, CompiledRoute>();
  const entries: Array<{ spec: RouteSpec; value: CompiledRoute }> = [];
  const readers = new Set<string>();
  try {
    for (const [name, r] of Object.entries(config.routes ?? {})) {
      if (readsConsumers(r)) readers.add(name);
      const old = prev?.routes.get(name);
      const origin = old && origins.get(old);
      let compiled: CompiledRoute;
      let spec: RouteSpec;
      if (origin !== undefined && origin.source === r && sameRefs(origin, upstreams) && (origin.consumers === config.consumers || !readsConsumers(r)) && (origin.protos === config.protos || !readsProtos(r))) {
        compiled = old!;
        spec = origin.spec;
        for (const h of origin.policies.values()) { closers.add(h); taken.add(h); }
        compileStats.routesReused++;
      } else {
        // The route itself is the same: keep every policy instance that depends on nothing that changed.
        const keep = origin !== undefined && origin.source === r ? reusable(origin, config, upstreams) : undefined;
        spec = routeSpec(name, r);
        compiled = compileRoute(name, r, config, upstreams, deps, closers, taken, keep, spec);
        compileStats.routesCompiled++;
      }
      routes.set(name, compiled);
      entries.push({ spec, value: compiled });
    }
  } catch (err) {
    for (const h of closers) if (!taken.has(h)) void h.close?.();
    throw err;
  }
  const router = new Router(entries, prev?.router as Router<CompiledRoute> | undefined);
  // Instances this snapshot took over are no longer the running one's to close.
  const prevOwned = prev && owned.get(prev);
  if (prevOwned) for (const h of taken) prevOwned.set.delete(h);
  return seal(revision, config, router, routes, upstreams, { set: closers }, readers);
}

function seal(revision: number, config: GatewayConfig, router: Router<CompiledRoute>, routes: Map<string, CompiledRoute>, upstreams: ReadonlyMap<string, UpstreamRuntime>, own: Owned, readers: ReadonlySet<string>): Snapshot {
  const snapshot: Snapshot = Object.freeze({
    revision,
    config,
    router,
    routes,
    upstreams,
    // The instances no newer snapshot took over (compile removes taken ones from this set).
    // It captures the holder, not the snapshot: a retired snapshot waiting for its close timer
    // is not kept alive by it (a stream of edits would otherwise hold one table per edit).
    async close() { await Promise.all([...own.set].map((h) => h.close?.())); },
  });
  owned.set(snapshot, own);
  routerGeneration.set(snapshot, router.generation);
  routesOwner.set(routes, snapshot);
  consumerReaders.set(snapshot, readers);
  return snapshot;
}

/**
 * An edit of a few routes and/or of the consumers, when upstreams and protos are the very
 * objects the running snapshot was built from: only the changed routes are compiled (plus,
 * when the consumers changed, the authenticating routes' authentication instances, under
 * the same specs), the running route map and router are patched in place and handed on, the
 * upstream runtimes are the running ones. Cost follows the change (the change list comes
 * from the routes record's lineage when the source gave one). Undefined when this does not
 * apply (the full compile runs).
 */
function patchSnapshot(config: GatewayConfig, revision: number, deps: CompileDeps, prev: Snapshot): Snapshot | undefined {
  const pc = prev.config;
  if (config.upstreams !== pc.upstreams || config.protos !== pc.protos) return undefined;
  const prevReaders = consumerReaders.get(prev);
  if (prevReaders === undefined) return undefined;
  const router = prev.router as Router<CompiledRoute>;
  const prevOwned = owned.get(prev);
  if (prevOwned === undefined || routerGeneration.get(prev) !== router.generation) return undefined;
  const now = config.routes ?? {};
  const before = pc.routes ?? {};
  const limit = Math.min(PATCH_MAX, Math.max(8, prev.routes.size >> 3));
  let changed: readonly string[] = [];
  let gone: readonly string[] = [];
  if (now !== before) {
    // The source said what it changed (core/lineage.ts): no walk over the unchanged routes.
    const diff = lineageFrom(now, before) ?? routeDiff(now, before, prev.routes, limit);
    if (diff === undefined || diff.changed.length + diff.removed.length > limit) return undefined;
    changed = diff.changed;
    gone = diff.removed;
  }
  // New consumers: every route that authenticates gets policy instances that read them (its
  // others are kept), under the same spec, so the table only swaps values (Router.revalue).
  const revalue: Array<[string, RouteOrigin]> = [];
  if (config.consumers !== pc.consumers && prevReaders.size > 0) {
    const touched = new Set([...changed, ...gone]);
    for (const name of prevReaders) {
      if (touched.has(name)) continue;
      const origin = origins.get(prev.routes.get(name)!);
      if (origin === undefined) return undefined;
      revalue.push([name, origin]);
    }
  }
  const removed = new Set<RouteSpec>();
  const retiring = new Set<PolicyHandlers>();
  for (const name of [...gone, ...changed]) {
    const old = prev.routes.get(name);
    if (old === undefined) continue;
    const origin = origins.get(old);
    if (origin === undefined) return undefined;
    removed.add(origin.spec);
    for (const h of origin.policies.values()) retiring.add(h);
  }
  const made = new Set<PolicyHandlers>();
  const revalued = new Map<RouteSpec, CompiledRoute>();
  const upstreams = prev.upstreams as Map<string, UpstreamRuntime>;
  const fresh: Array<{ spec: RouteSpec; value: CompiledRoute }> = [];
  try {
    for (const name of changed) {
      const r = now[name]!;
      const spec = routeSpec(name, r);
      fresh.push({ spec, value: compileRoute(name, r, config, upstreams, deps, made, new Set(), undefined, spec) });
    }
    for (const [name, origin] of revalue) {
      const used = new Set<PolicyHandlers>();
      const kept = new Set<PolicyHandlers>();
      const value = compileRoute(name, origin.source, config, upstreams, deps, used, kept, reusable(origin, config, upstreams), origin.spec);
      for (const h of used) if (!kept.has(h)) made.add(h);
      for (const h of origin.policies.values()) if (!kept.has(h)) retiring.add(h);
      revalued.set(origin.spec, value);
    }
  } catch (err) {
    for (const h of made) void h.close?.();
    throw err;
  }
  // The running map, edited in place and handed on when this snapshot owns it (copying
  // ten thousand entries per edit was most of an edit's garbage); a copy otherwise.
  const owns = routesOwner.get(prev.routes) === prev;
  const routes = owns ? prev.routes as Map<string, CompiledRoute> : new Map(prev.routes);
  for (const name of gone) routes.delete(name);
  for (const f of fresh) routes.set(f.value.name, f.value);
  for (const value of revalued.values()) routes.set(value.name, value);
  // The table in place, or (when it declines) a new one from every route's spec.
  let table = router;
  if (router.patch(removed, fresh)) router.revalue(revalued);
  else {
    const entries: Array<{ spec: RouteSpec; value: CompiledRoute }> = [];
    for (const compiled of routes.values()) entries.push({ spec: origins.get(compiled)!.spec, value: compiled });
    table = new Router(entries, router);
  }
  compileStats.routesReused += routes.size - changed.length - revalue.length;
  compileStats.routesCompiled += changed.length + revalue.length;
  // Which routes read the consumers: the running set, unless a changed or removed route alters it.
  let readers = prevReaders;
  if (changed.some((n) => readsConsumers(now[n]!) !== prevReaders.has(n)) || gone.some((n) => prevReaders.has(n))) {
    const next = new Set(prevReaders);
    for (const n of gone) next.delete(n);
    for (const n of changed) if (readsConsumers(now[n]!)) next.add(n); else next.delete(n);
    readers = next;
  }
  // Ownership: every instance moves on but those of the replaced routes, which the retiring
  // snapshot closes.
  const moving = prevOwned.set;
  for (const h of retiring) moving.delete(h);
  for (const h of made) moving.add(h);
  prevOwned.set = retiring;
  return seal(revision, config, table, routes, upstreams, { set: moving }, readers);
}

/** Routes added or replaced and routes gone, by a walk over the names; undefined past `limit` (a full build is cheaper). */
function routeDiff(now: Record<string, Route>, before: Record<string, Route>, running: ReadonlyMap<string, CompiledRoute>, limit: number): { changed: string[]; removed: string[] } | undefined {
  const changed: string[] = [];
  const removed: string[] = [];
  let kept = 0;
  let replaced = 0;
  for (const name in now) {
    const b = before[name];
    if (b === now[name]) kept++;
    else {
      if (b !== undefined) replaced++;
      changed.push(name);
      if (changed.length > limit) return undefined;
    }
  }
  if (kept + replaced < running.size) for (const name of running.keys()) if (!Object.hasOwn(now, name)) removed.push(name);
  return { changed, removed };
}

function routeSpec(name: string, r: Route): RouteSpec {
  return {
    name,
    hosts: r.match.hosts?.map((h) => h.toLowerCase()),
    paths: r.match.paths,
    methods: r.match.methods,
    headers: r.match.headers ? Object.fromEntries(Object.entries(r.match.headers).map(([k, v]) => [k.toLowerCase(), v])) : undefined,
    priority: r.priority ?? 0,
    caseSensitive: r.match.caseSensitive,
    strictSlash: r.match.strictSlash,
  };
}

/** Authentication policies index the consumers (policies/auth-common/consumers.ts). */
function readsProtos(r: Route): boolean {
  for (const p in r.policies ?? {}) if (policies.get(p)?.readsProtos === true) return true;
  return false;
}

function readsConsumers(r: Route): boolean {
  for (const p in r.policies ?? {}) if (policies.get(p)?.phase === 'authenticate') return true;
  return false;
}

/** Upstream names a route depends on: its own and those its policies name (traffic-split, mirror). */
function refsOf(r: Route, upstreams: ReadonlyMap<string, UpstreamRuntime>): Array<readonly [string, UpstreamRuntime | undefined]> {
  const out: Array<readonly [string, UpstreamRuntime | undefined]> = [];
  if (r.upstream !== undefined) out.push([r.upstream, upstreams.get(r.upstream)]);
  for (const [p, cfg] of Object.entries(r.policies ?? {})) {
    const refs = policies.get(p)?.upstreamRefs?.(cfg ?? {});
    if (refs) for (const [, n] of refs) out.push([n, upstreams.get(n)]);
  }
  return out;
}

function sameRefs(origin: RouteOrigin, upstreams: ReadonlyMap<string, UpstreamRuntime>): boolean {
  for (const [n, rt] of origin.refs) if (upstreams.get(n) !== rt) return false;
  return true;
}

/** Policy instances of an unchanged route that can stand: not authentication when the consumers changed, none naming a changed upstream. */
function reusable(origin: RouteOrigin, config: GatewayConfig, upstreams: ReadonlyMap<string, UpstreamRuntime>): Map<string, PolicyHandlers> {
  const keep = new Map<string, PolicyHandlers>();
  const consumersSame = origin.consumers === config.consumers;
  for (const [p, h] of origin.policies) {
    const def = policies.get(p);
    if (!def || (!consumersSame && def.phase === 'authenticate')) continue;
    if (def.readsProtos === true && origin.protos !== config.protos) continue;
    if (def.upstreamRefs && !sameRefs(origin, upstreams)) continue;
    keep.set(p, h);
  }
  return keep;
}

function compileRoute(name: string, r: Route, config: GatewayConfig, upstreams: Map<string, UpstreamRuntime>, deps: CompileDeps, closers: Set<PolicyHandlers>, taken: Set<PolicyHandlers>, keep: ReadonlyMap<string, PolicyHandlers> | undefined, spec: RouteSpec): CompiledRoute {
  const made = new Map<string, PolicyHandlers>();
  const active: Array<{ phase: number; priority: number; name: string; h: PolicyHandlers; enforce: boolean }> = [];
  for (const [pname, pcfg] of Object.entries(r.policies ?? {})) {
    const def = policies.get(pname);
    if (!def) throw new Error(`routes.${name}.policies.${pname}: unknown policy`);
    const cfg = (pcfg ?? {}) as Record<string, unknown>;
    const kept = keep?.get(pname);
    const h = kept ?? def.create(cfg, { routeName: name, config, logger: deps.logger.child({ route: name, policy: pname }), baseDir: deps.baseDir, services: deps.services, upstreams, metrics: deps.metrics });
    if (kept !== undefined) { taken.add(h); compileStats.policiesReused++; }
    closers.add(h);
    made.set(pname, h);
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
  // A shadowed policy's are left out: in shadow mode the client sees nothing of it (as with fixedHeaders).
  const response = active.filter((p) => p.enforce && p.h.response).reverse().map((p) => p.h.response!.bind(p.h));
  const log = active.filter((p) => p.h.log).map((p) => p.h.log!.bind(p.h));
  const fixedHeaders: string[] = [];
  for (const p of active) {
    if (!p.enforce || !p.h.responseHeaders) continue;
    for (const [k, v] of Object.entries(p.h.responseHeaders)) fixedHeaders.push(k.toLowerCase(), v);
  }
  const compiled: CompiledRoute = Object.freeze({
    name,
    upstream: r.upstream ? upstreams.get(r.upstream) : undefined,
    request,
    response,
    fixedHeaders: Object.freeze(fixedHeaders),
    log,
    stripPrefix: r.rewrite?.stripPrefix?.replace(/\/+$/, '') || undefined,
    stripAnyCase: r.match.caseSensitive === false,
    rewrite: r.rewrite?.path ? compileTemplate(r.rewrite.path) : undefined,
    stats: deps.metrics.routes.get(name),
  });
  const refs = refsOf(r, upstreams);
  // Most routes have no policies and one upstream: shared empties keep the record small.
  origins.set(compiled, { source: r, spec, consumers: config.consumers, protos: config.protos, refs, policies: made.size ? made : NO_POLICIES });
  return compiled;
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
