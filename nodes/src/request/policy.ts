/**
 * The policy contract (architecture principle 1 and 3). A policy is one folder under
 * nodes/src/policies/<name>/ exporting a PolicyDefinition; policies/registry.ts lists them.
 * `create()` runs at config load time and does all the config work (compile, hash, build
 * limiters); the handlers it returns only do per-request work. A handler ends a request
 * by returning a LocalReply; it never writes to the socket itself.
 */
import type { PolicySpec } from '../schema/policy-spec.ts';
import type { HookResult, ResponseHead } from '../core/reply.ts';
import type { RequestContext } from './context.ts';
import type { GatewayConfig } from '../schema/model.ts';
import type { Logger } from 'pino';
import type { NodeServices } from './services.ts';

/** The plain-data reply types live in core/ (the upstream library uses them too). */
export type { LocalReply, HookResult, ResponseHead, ResponseTap } from '../core/reply.ts';

export { PHASES, type Phase } from '../schema/policy-spec.ts';

export interface PolicyHandlers {
  /** Before the upstream call, in the policy's phase. May be async; a sync handler costs no promise. */
  request?(ctx: RequestContext): HookResult | Promise<HookResult>;
  /** When the response head is known (upstream or local), before it is written. */
  response?(ctx: RequestContext, head: ResponseHead): void;
  /**
   * Constant headers on every response of the route, proxied or local (lower-case names).
   * They replace an upstream header of the same name and are set before response hooks
   * run. Cheaper than a response hook: the proxied head stays a flat list, no object per request.
   */
  responseHeaders?: Readonly<Record<string, string>>;
  /** After the response finished (or the client went away). */
  log?(ctx: RequestContext): void;
  /** Released when the snapshot that created it is retired (timers, sockets). */
  close?(): void | Promise<void>;
}

export interface PolicyDeps {
  routeName: string;
  config: GatewayConfig;
  logger: Logger;
  /** Resolved path of the config file's folder, for policies that name files (OpenAPI, keys). */
  baseDir: string;
  /** The node's shared services (counter stores, breaker store, status routes, cache): request/services.ts. */
  services: NodeServices;
  /** The snapshot's upstreams, for policies that pick or mirror to another upstream. */
  upstreams: ReadonlyMap<string, import('../upstream/upstream.ts').UpstreamRuntime>;
  /** Register a metric on the node's registry (idempotent by name). */
  metrics: import('../telemetry/metrics.ts').Metrics;
}

/** A policy: its config side (schema/policy-spec.ts, what validation uses) plus its runtime. */
export interface PolicyDefinition<C = any> extends PolicySpec<C> {
  /** Load time only; the config passed validation, `check` included. */
  create(config: C, deps: PolicyDeps): PolicyHandlers;
}
