/**
 * The policy contract (architecture principle 1 and 3). A policy is one folder under
 * nodes/src/policies/<name>/ exporting a PolicyDefinition; policies/registry.ts lists them.
 * `create()` runs at config load time and does all the config work (compile, hash, build
 * limiters); the handlers it returns only do per-request work. A handler ends a request
 * by returning a LocalReply; it never writes to the socket itself.
 */
import type { TSchema } from 'typebox';
import type { HookResult, ResponseHead } from '../core/reply.ts';
import type { RequestContext } from './context.ts';
import type { GatewayConfig } from '../schema/model.ts';
import type { Logger } from 'pino';

/** The plain-data reply types live in core/ (the upstream library uses them too). */
export type { LocalReply, HookResult, ResponseHead, ResponseTap } from '../core/reply.ts';

/** Phases in the order they run. A policy's phase decides its order, not the config map's order. */
export const PHASES = ['request', 'authenticate', 'authorize', 'validate', 'traffic', 'upstream'] as const;
export type Phase = (typeof PHASES)[number];

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
  /** Named services other issues add (counter store, breaker state, cluster bus). */
  services: Record<string, unknown>;
  /** The snapshot's upstreams, for policies that pick or mirror to another upstream. */
  upstreams: ReadonlyMap<string, import('../upstream/upstream.ts').UpstreamRuntime>;
  /** Register a metric on the node's registry (idempotent by name). */
  metrics: import('../telemetry/metrics.ts').Metrics;
}

export interface PolicyDefinition<C = any> {
  name: string;
  phase: Phase;
  /** Higher runs first within a phase (Kong's convention). */
  priority: number;
  /** JSON Schema of the config (TypeBox). `enforce` is added by the registry for every policy. */
  schema: TSchema;
  /**
   * Upstream names a (schema-valid) config refers to, as [relative path, name] pairs, so
   * `gatehouse validate`, the admin API and reloads report a dangling reference with its path.
   */
  upstreamRefs?(config: C): Array<[path: (string | number)[], name: string]>;
  /**
   * Other cross references of a (schema-valid) config against the whole document, as
   * [relative path, message] (grpc-transcode: its proto set and services). `baseDir` is the
   * config file's folder, for sets given by path.
   */
  check?(config: C, doc: GatewayConfig, baseDir: string): Array<[path: (string | number)[], message: string]>;
  create(config: C, deps: PolicyDeps): PolicyHandlers;
}
