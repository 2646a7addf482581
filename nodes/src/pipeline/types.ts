/**
 * The policy contract (architecture principle 1 and 3). A policy is one folder under
 * nodes/src/policies/<name>/ exporting a PolicyDefinition; policies/registry.ts lists them.
 * `create()` runs at config load time and does all the config work (compile, hash, build
 * limiters); the handlers it returns only do per-request work. A handler ends a request
 * by returning a LocalReply; it never writes to the socket itself.
 */
import type { TSchema } from 'typebox';
import type { ErrorCode } from '../errors.ts';
import type { RequestContext } from './context.ts';
import type { GatewayConfig } from '../schema/model.ts';
import type { Logger } from 'pino';

/** Phases in the order they run. A policy's phase decides its order, not the config map's order. */
export const PHASES = ['request', 'authenticate', 'authorize', 'validate', 'traffic', 'upstream'] as const;
export type Phase = (typeof PHASES)[number];

export interface LocalReply {
  /** A GW_* code: the body becomes problem+json with that code's status. */
  code?: ErrorCode;
  /** Client-safe detail; never internal error text. */
  detail?: string;
  /** Extra documented members of the problem body, e.g. `errors` for validation. */
  extra?: Record<string, unknown>;
  /** For replies that are not errors (cache hit, CORS preflight): status and body as given. */
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /**
   * A body made over time (a server-streamed gRPC answer as NDJSON, SSE or gRPC-Web frames):
   * the head goes out at once, then the stream is piped; the request finishes when it ends.
   * The policy still never writes to the socket: it writes to this stream, and sees the
   * client leave as the stream being destroyed (docs/decisions/0006-streamed-local-replies.md).
   */
  stream?: import('node:stream').Readable;
}

export type HookResult = LocalReply | undefined | void;

/** The response head as it goes to the client; response hooks may edit `headers` in place. */
export interface ResponseHead {
  status: number;
  headers: Record<string, string | string[]>;
  /** True when the gateway made the response itself (LocalReply), false for an upstream's. */
  local: boolean;
}

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

/**
 * Observes an upstream response as it streams to the client (the cache fills itself this
 * way). Called after response hooks, with the head as sent; never delays the client.
 */
export interface ResponseTap {
  head(status: number, headers: Record<string, string | string[]>): void;
  data(chunk: Buffer): void;
  end(): void;
  /** The response failed or the client went away: discard what was collected. */
  abort(): void;
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
