/**
 * From verified claims to a consumer, only by explicit mapping: the `consumerClaim` value is
 * looked up in consumers' `jwtSubjects`, never matched against consumer names (a token
 * issuer could otherwise become any configured consumer, say a key-auth `root`, by choosing
 * its `sub`). A subject listed under two consumers is a config error: who it is must not
 * depend on map order. A token that no consumer claims is an unmapped identity (see
 * ConsumerIdentity.unmapped).
 */
import type { ConsumerIdentity } from '../../request/context.ts';
import type { GatewayConfig } from '../../schema/model.ts';
import type { ConfigProblem } from '../../schema/policy-spec.ts';

export interface Known { name: string; groups: readonly string[] }

/** Every subject claimed by two consumers, as config problems at the second one. */
export function subjectConflicts(consumers: GatewayConfig['consumers']): ConfigProblem[] {
  const owner = new Map<string, string>();
  const out: ConfigProblem[] = [];
  for (const [name, c] of Object.entries(consumers ?? {})) {
    (c?.jwtSubjects ?? []).forEach((s, i) => {
      const other = owner.get(s);
      if (other === undefined) owner.set(s, name);
      else if (other !== name) out.push({ path: `consumers.${name}.jwtSubjects.${i}`, message: `"${s}" is also a subject of consumer "${other}"` });
    });
  }
  return out;
}

/** jwtSubjects value → its consumer. Throws on a subject two consumers claim. */
export function subjectMap(config: GatewayConfig): ReadonlyMap<string, Known> {
  const conflict = subjectConflicts(config.consumers)[0];
  if (conflict !== undefined) throw new Error(`${conflict.path}: ${conflict.message}`);
  const map = new Map<string, Known>();
  for (const [name, c] of Object.entries(config.consumers ?? {})) {
    if (!c.jwtSubjects?.length) continue;
    const known: Known = Object.freeze({ name, groups: Object.freeze([...(c.groups ?? [])]) });
    for (const s of c.jwtSubjects) map.set(s, known);
  }
  return map;
}

/** A claim used as an identifier: a non-empty string, or an integer (some IdPs use numeric ids). */
export function idClaim(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length ? v : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

/** RFC 8693 §4.2 `scope` (space-separated) and the common `scp` (array or string), merged. */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  addTokens(out, claims.scope);
  addTokens(out, claims.scp);
  return [...out];
}

/** Groups claim: an array of strings, or one string separated by spaces or commas. */
export function groupsOf(claims: Record<string, unknown>, claim: string | undefined): string[] {
  if (claim === undefined) return [];
  const out = new Set<string>();
  addTokens(out, claims[claim], /[\s,]+/);
  return [...out];
}

function addTokens(out: Set<string>, v: unknown, sep: RegExp = /\s+/): void {
  if (typeof v === 'string') { for (const s of v.split(sep)) if (s) out.add(s); }
  else if (Array.isArray(v)) { for (const s of v) if (typeof s === 'string' && s) out.add(s); }
}

/** A configured consumer, mapped from its jwtSubjects: its name and configured groups. */
export function mappedIdentity(known: Known, claims: Record<string, unknown>): ConsumerIdentity {
  return {
    name: known.name,
    groups: known.groups,
    method: 'jwt-auth',
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    scopes: scopesOf(claims),
    claims: Object.freeze(claims),
  };
}

/** A token no consumer claims: `jwt:<id>` for keys and logs, groups only from groupsClaim. */
export function unmappedIdentity(id: string, claims: Record<string, unknown>, groupsClaim: string | undefined): ConsumerIdentity {
  return {
    name: `jwt:${id}`,
    groups: groupsOf(claims, groupsClaim),
    method: 'jwt-auth',
    unmapped: true,
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    scopes: scopesOf(claims),
    claims: Object.freeze(claims),
  };
}
