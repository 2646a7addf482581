/**
 * What a config compiles to (pipeline/compile.ts builds it at load time): each route's hooks
 * in run order, and the immutable snapshot a request keeps from start to end. Types only.
 */
import type { GatewayConfig } from '../schema/model.ts';
import type { Router } from '../router/index.ts';
import type { RouteStats } from '../telemetry/route-stats.ts';
import type { UpstreamRuntime } from '../upstream/upstream.ts';
import type { HookResult, ResponseHead } from '../core/reply.ts';
import type { PathTemplate } from '../core/template.ts';
import type { RequestContext } from './context.ts';

export type RequestHook = (ctx: RequestContext) => HookResult | Promise<HookResult>;
export type ResponseHook = (ctx: RequestContext, head: ResponseHead) => void;
export type LogHook = (ctx: RequestContext) => void;

export interface CompiledRoute {
  readonly name: string;
  readonly upstream: UpstreamRuntime | undefined;
  readonly request: readonly RequestHook[];
  readonly response: readonly ResponseHook[];
  /** The enforced policies' constant response headers, flat [name, value, ...] (lower-case names). */
  readonly fixedHeaders: readonly string[];
  readonly log: readonly LogHook[];
  readonly stripPrefix: string | undefined;
  /** The route matches in any case (match.caseSensitive false), so stripPrefix compares in any ASCII case too. */
  readonly stripAnyCase?: boolean;
  /** `rewrite.path` compiled (core/template.ts): the upstream path from the match params. */
  readonly rewrite: PathTemplate | undefined;
  readonly stats: RouteStats;
}

export interface Snapshot {
  readonly revision: number;
  readonly config: GatewayConfig;
  /** The route table, and the routes by name: a patch (pipeline/compile.ts) edits both in place and hands them to the next snapshot, so a retired snapshot's are not a record of what it served. */
  readonly router: Router<CompiledRoute>;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  /** Release policy resources once no request uses this snapshot. */
  close(): Promise<void>;
}
