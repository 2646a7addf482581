/**
 * A policy's config side: what validation needs of it, with no runtime attached. Each policy
 * folder has a `spec.ts` exporting one PolicySpec (pure: no timers, sockets or data-plane
 * libraries at load), and its runtime definition (request/policy.ts) extends it with
 * `create()`. Validation (validation/validate.ts) runs `check` for every policy of every
 * route, so `gatehouse validate`, the admin API and a node refuse the same configs with the
 * same messages, all at once.
 */
import type { TSchema } from 'typebox';
import type { GatewayConfig } from './model.ts';

/** Phases in the order they run. A policy's phase decides its order, not the config map's order. */
export const PHASES = ['request', 'authenticate', 'authorize', 'validate', 'traffic', 'upstream'] as const;
export type Phase = (typeof PHASES)[number];

export interface CheckContext {
  readonly routeName: string;
  /** The whole document (schema-valid where the policy's check runs). */
  readonly doc: GatewayConfig;
  /** The policy's own path as users write it, e.g. `routes.users.policies.key-auth`. */
  readonly path: string;
  /** The config file's folder, for files a policy's config names (proto sets given by path). */
  readonly baseDir?: string;
  /**
   * True when one item is checked alone (the etcd source, key by key): `doc` holds only that
   * route, so references to other objects (proto sets) wait for the whole config's check.
   */
  readonly partial?: boolean;
}

export interface ConfigProblem { path: string; message: string }

export interface PolicySpec<C = any> {
  name: string;
  phase: Phase;
  /**
   * The request hook can refuse a request (a reply with a GW_* code or a status of 400 or
   * more). Then `enforce: false` is shadow mode: the policy is evaluated, a refusal is
   * logged and counted (`gatehouse_policy_decisions_total{outcome="shadow_deny"}`) and the
   * request goes on; its response hooks and constant headers are not applied. A policy
   * that never refuses (a transform, a split, a cache) has no shadow mode: validation
   * refuses `enforce: false` on it (validation/validate.ts), once for every policy.
   */
  canDeny: boolean;
  /** Higher runs first within a phase (Kong's convention). */
  priority: number;
  /** JSON Schema of the config (TypeBox). */
  schema: TSchema;
  /**
   * Upstream names a (schema-valid) config refers to, as [relative path, name] pairs, so
   * validation reports a dangling reference with its path.
   */
  upstreamRefs?(config: C): Array<[path: (string | number)[], name: string]>;
  /**
   * The semantic check of a schema-valid config: every problem `create()` would otherwise
   * meet, with its path. Pure: no I/O, timers or network.
   */
  check?(config: C, ctx: CheckContext): ConfigProblem[];
  /**
   * A check of each consumer this policy reads (basic-auth: its password hashes), run once
   * per consumer object, whether or not a route uses the policy: a consumer is valid or not
   * on its own, so an edit elsewhere never re-checks it. `path` is `consumers.<name>`.
   */
  checkConsumer?(consumer: NonNullable<GatewayConfig['consumers']>[string], path: string): ConfigProblem[];
  /**
   * The compiled policy depends on the document's proto sets (grpc-transcode), so a reload
   * that changes them rebuilds it instead of reusing the running instance.
   */
  readsProtos?: boolean;
}

/** A compile step's Error (`path: message`, as create() would throw it) as a validation problem. */
export function problemOf(err: unknown, fallbackPath: string): ConfigProblem {
  const m = (err as Error).message;
  const at = m.indexOf(': ');
  return at > 0 && !m.slice(0, at).includes(' ') ? { path: m.slice(0, at), message: m.slice(at + 2) } : { path: fallbackPath, message: m };
}
