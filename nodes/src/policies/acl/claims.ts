/**
 * The values a consumer holds for a claim, as a set of strings. `scope`/`scp` read the
 * scopes jwt-auth already merged (space-separated `scope`, array `scp`). Other claims: a
 * string is one value, an array its string/number/boolean members; `a.b` walks into
 * objects (Keycloak's `realm_access.roles`) unless a claim literally named `a.b` exists.
 */
import type { ConsumerIdentity } from '../../request/context.ts';

const EMPTY: ReadonlySet<string> = new Set();

export function claimValues(c: ConsumerIdentity, claim: string): ReadonlySet<string> {
  if (claim === 'scope' || claim === 'scp') return new Set(c.scopes ?? []);
  const claims = c.claims;
  if (claims === undefined) return EMPTY;
  let v: unknown = Object.hasOwn(claims, claim) ? claims[claim] : walk(claims, claim);
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) v = [v];
  const out = new Set<string>();
  for (const x of v as unknown[]) if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out.add(String(x));
  return out;
}

function walk(o: Record<string, unknown>, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
