/**
 * acl: who may use a route, once authentication said who is calling. `deny` and `allow`
 * list consumer groups (deny wins: a consumer in both is refused, as in Kong's ACL and
 * nginx's allow/deny order), `requireClaims` lists claim values that must all be present
 * (JWT consumers: `scope: [users:read]`).
 * No consumer at all is a 401 (authentication is what's missing, RFC 9110 §15.5.2), with
 * the challenges of the route's authentication policies; a known consumer that may not
 * pass is a 403 GW_FORBIDDEN. A missing scope on a JWT consumer adds RFC 6750 §3.1
 * `error="insufficient_scope"` so OAuth clients know to ask for more.
 */
import type { PolicyDefinition, PolicyHandlers, LocalReply, PolicyDeps } from '../../request/policy.ts';
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';
import { challenge, unauthorized, DEFAULT_REALM } from '../auth-common/challenge.ts';
import { claimValues } from './claims.ts';
import { spec, type AclConfig } from './spec.ts';



const FORBIDDEN: LocalReply = Object.freeze({ code: 'GW_FORBIDDEN', detail: 'This consumer may not use this route' }) as LocalReply;

class Acl implements PolicyHandlers {
  private readonly allow: ReadonlySet<string> | undefined;
  private readonly deny: ReadonlySet<string>;
  private readonly require: ReadonlyArray<readonly [string, readonly string[]]>;
  private readonly noConsumer: LocalReply;
  private readonly noScope: LocalReply;

  constructor(config: AclConfig, deps: PolicyDeps) {
    this.allow = config.allow ? new Set(config.allow) : undefined;
    this.deny = new Set(config.deny ?? []);
    this.require = Object.entries(config.requireClaims ?? {});
    this.noConsumer = unauthorized(routeChallenges(deps), 'Authentication is required');
    const scopes = [...(config.requireClaims?.scope ?? []), ...(config.requireClaims?.scp ?? [])];
    this.noScope = Object.freeze({
      ...FORBIDDEN,
      detail: 'The access token lacks a required scope',
      headers: Object.freeze({ 'www-authenticate': `${challenge.bearer(bearerRealm(deps), 'insufficient_scope')}, scope="${scopes.join(' ')}"` }),
    }) as LocalReply;
  }

  request(ctx: RequestContext): LocalReply | undefined {
    const c = ctx.consumer;
    if (c === undefined) return this.noConsumer;
    const groups = c.groups;
    for (let i = 0; i < groups.length; i++) if (this.deny.has(groups[i]!)) return FORBIDDEN;
    if (this.allow !== undefined && !groups.some((g) => this.allow!.has(g))) return FORBIDDEN;
    for (const [claim, values] of this.require) {
      if (!hasAll(c, claim, values)) return (claim === 'scope' || claim === 'scp') && c.method === 'jwt-auth' ? this.noScope : FORBIDDEN;
    }
    return undefined;
  }
}

function hasAll(c: ConsumerIdentity, claim: string, values: readonly string[]): boolean {
  const have = claimValues(c, claim);
  for (const v of values) if (!have.has(v)) return false;
  return true;
}

/** RFC 9110 §11.6.1: a 401 carries a challenge; offer the route's own schemes. */
function routeChallenges(deps: PolicyDeps): string {
  const p = (deps.config.routes?.[deps.routeName]?.policies ?? {}) as Record<string, { realm?: string } | null | undefined>;
  const out: string[] = [];
  if (p['jwt-auth'] !== undefined) out.push(challenge.bearer(p['jwt-auth']?.realm ?? DEFAULT_REALM));
  if (p['key-auth'] !== undefined) out.push(challenge.apiKey(p['key-auth']?.realm ?? DEFAULT_REALM));
  if (p['basic-auth'] !== undefined) out.push(challenge.basic(p['basic-auth']?.realm ?? DEFAULT_REALM));
  return out.length ? out.join(', ') : challenge.bearer(DEFAULT_REALM);
}

function bearerRealm(deps: PolicyDeps): string {
  const p = deps.config.routes?.[deps.routeName]?.policies?.['jwt-auth'] as { realm?: string } | undefined;
  return p?.realm ?? DEFAULT_REALM;
}

export const acl: PolicyDefinition<AclConfig> = {
  ...spec,
  create(config, deps) {
    return Object.freeze(new Acl(config, deps));
  },
};
