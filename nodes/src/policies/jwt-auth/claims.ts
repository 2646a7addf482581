/**
 * From verified claims to a consumer. `consumerClaim` (default `sub`) is looked up first in
 * consumers' `jwtSubjects` (explicit mapping), then as a consumer name. A subject listed
 * under two consumers is a config error: who it is must not depend on map order.
 */
import type { ConsumerIdentity } from '../../request/context.ts';
import type { GatewayConfig } from '../../schema/model.ts';

export interface Known { name: string; groups: readonly string[] }

export function subjectMap(config: GatewayConfig): ReadonlyMap<string, Known> {
  const explicit = new Map<string, Known>();
  const byName = new Map<string, Known>();
  for (const [name, c] of Object.entries(config.consumers ?? {})) {
    const known: Known = Object.freeze({ name, groups: Object.freeze([...(c.groups ?? [])]) });
    byName.set(name, known);
    for (const s of c.jwtSubjects ?? []) {
      const other = explicit.get(s);
      if (other && other.name !== name) throw new Error(`consumers.${name}.jwtSubjects: "${s}" is also a subject of consumer "${other.name}"`);
      explicit.set(s, known);
    }
  }
  for (const [s, k] of explicit) byName.set(s, k);
  return byName;
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

export function identityOf(known: Known | undefined, id: string, claims: Record<string, unknown>, groupsClaim: string | undefined): ConsumerIdentity {
  const scopes = scopesOf(claims);
  return {
    name: known ? known.name : id,
    groups: known ? known.groups : groupsOf(claims, groupsClaim),
    method: 'jwt-auth',
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    scopes,
    claims: Object.freeze(claims),
  };
}
