/**
 * The `anonymous` option: a consumer name used when the request presents NO credential.
 * A wrong credential is never downgraded to anonymous (that would turn "bad password"
 * into "logged in as guest", and hide credential stuffing in the metrics).
 *
 * Several authentication policies on one route are combined any-of (pipeline/compile.ts):
 * they run in priority order until one passes. If the first one in that order answered a
 * credential-less request with the anonymous consumer, a later one would never see the
 * JWT or password the request does carry. So the fallback belongs to the LAST enforcing
 * authentication policy of the route: the others refuse (adding their challenge) and
 * mark the request when they saw a credential and rejected it; the last one applies the
 * anonymous consumer only if no earlier policy saw a credential. Every policy's
 * `anonymous` on one route must name the same consumer (checked at load time).
 */
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';
import type { PolicyDeps } from '../../request/policy.ts';

/** Phase 'authenticate' policies of this folder family and their priorities (Kong's order: jwt, key, basic). */
export const AUTH_PRIORITY = { 'jwt-auth': 1450, 'key-auth': 1250, 'basic-auth': 1100 } as const;
export type AuthPolicyName = keyof typeof AUTH_PRIORITY;

const REJECTED = 'auth:rejected';

/** An earlier policy saw a credential and refused it: no anonymous fallback for this request. */
export function markRejected(ctx: RequestContext): void {
  (ctx.state ??= {})[REJECTED] = true;
}

export function wasRejected(ctx: RequestContext): boolean {
  return ctx.state !== undefined && ctx.state[REJECTED] === true;
}

interface AuthConfig { anonymous?: string | undefined; enforce?: boolean | undefined }

/**
 * The anonymous identity this policy applies on a credential-less request, or undefined
 * (no anonymous configured, or another policy later in the chain owns the fallback).
 */
export function anonymousFallback(self: AuthPolicyName, config: AuthConfig, deps: PolicyDeps): ConsumerIdentity | undefined {
  if (config.enforce === false) return config.anonymous === undefined ? undefined : anonymousIdentity(config.anonymous, deps);
  const route = deps.config.routes?.[deps.routeName];
  const enforcing: Array<[AuthPolicyName, AuthConfig]> = [];
  for (const [name, cfg] of Object.entries(route?.policies ?? {})) {
    const c = (cfg ?? {}) as AuthConfig;
    if (name in AUTH_PRIORITY && c.enforce !== false) enforcing.push([name as AuthPolicyName, c]);
  }
  if (!enforcing.some(([n]) => n === self)) enforcing.push([self, config]); // create() called outside a route (unit tests)
  // Same order as compile.ts: higher priority first, then name.
  enforcing.sort((a, b) => AUTH_PRIORITY[b[0]] - AUTH_PRIORITY[a[0]] || a[0].localeCompare(b[0]));
  const names = new Set(enforcing.map(([, c]) => c.anonymous).filter((a): a is string => a !== undefined));
  if (names.size > 1) throw new Error(`routes.${deps.routeName}.policies: authentication policies name different anonymous consumers (${[...names].join(', ')})`);
  const last = enforcing[enforcing.length - 1]![0];
  const name = names.values().next().value;
  return last === self && name !== undefined ? anonymousIdentity(name, deps) : undefined;
}

/** Groups come from a consumer of that name when one is configured; otherwise none. */
function anonymousIdentity(name: string, deps: PolicyDeps): ConsumerIdentity {
  const groups = deps.config.consumers?.[name]?.groups ?? [];
  return Object.freeze({ name, groups: Object.freeze([...groups]), method: 'anonymous' });
}
