/**
 * The one place that turns an authentication result into identity: ctx.consumer for later
 * policies (acl, rate-limit by consumer) and the identity headers the upstream trusts.
 * Clients can never send these headers themselves: http/headers.ts strips every
 * X-Consumer-* and X-Authenticated-* header from the client request, and the gateway's
 * own headers are added after Connection-named headers are dropped (RFC 9110 §7.6.1).
 */
import type { ConsumerIdentity, RequestContext } from '../../request/context.ts';

export const H_NAME = 'x-consumer-name';
export const H_GROUPS = 'x-consumer-groups';
export const H_ANONYMOUS = 'x-consumer-anonymous';
export const H_SUBJECT = 'x-authenticated-subject';
export const H_SCOPES = 'x-authenticated-scopes';

/** Printable ASCII without '%' and without leading/trailing space: sent as is. */
const PLAIN = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/;

/**
 * A header-safe spelling of a value that may come from a token (subject, scopes, groups).
 * CR/LF/NUL would be header injection (CWE-113) and non-ASCII is not portable
 * (RFC 9110 §5.5), so anything else is percent-encoded as UTF-8 (RFC 3986 §2.1); '%' is
 * encoded too, so the spelling is unambiguous.
 */
export function headerValue(v: string): string {
  return PLAIN.test(v) ? v : encoded(v);
}

function encoded(v: string): string {
  // toWellFormed: a lone surrogate (legal in JSON strings) would make encodeURIComponent throw.
  return encodeURIComponent(v.toWellFormed()).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * A list header (groups joined by ',', scopes by ' '): each item is spelled on its own, and
 * an item that contains the separator is percent-encoded (',' → %2C, ' ' → %20), so a token
 * group "admins,root" stays one group to the upstream instead of becoming two.
 */
export function listValue(items: readonly string[], sep: string): string {
  let out = '';
  for (let i = 0; i < items.length; i++) {
    const v = items[i]!;
    const e = PLAIN.test(v) && !v.includes(sep) ? v : encoded(v);
    out = i === 0 ? e : out + sep + e;
  }
  return out;
}

/** Every identity header name: what one identity does not say is removed, never left stale. */
const NAMES = [H_NAME, H_GROUPS, H_ANONYMOUS, H_SUBJECT, H_SCOPES];

/** Identity headers computed once per configured consumer (key-auth, basic-auth identities are static). */
const prepared = new WeakMap<ConsumerIdentity, readonly string[]>();

/** The identity's headers, flat [name, value, ...]: only the facts it has. */
function identityHeaders(id: ConsumerIdentity): readonly string[] {
  let flat = id.claims === undefined ? prepared.get(id) : undefined;
  if (flat !== undefined) return flat;
  // A token no consumer claims names no consumer: only its subject goes upstream.
  const f: string[] = id.unmapped === true ? [] : [H_NAME, headerValue(id.name)];
  if (id.groups.length) f.push(H_GROUPS, listValue(id.groups, ','));
  if (id.method === 'anonymous') f.push(H_ANONYMOUS, 'true');
  if (id.subject !== undefined) f.push(H_SUBJECT, headerValue(id.subject));
  if (id.scopes?.length) f.push(H_SCOPES, listValue(id.scopes, ' '));
  flat = f;
  if (id.claims === undefined) prepared.set(id, flat);
  return flat;
}

/** Set ctx.consumer and the identity headers; headers for unknown facts are removed, never left stale. */
export function setIdentity(ctx: RequestContext, id: ConsumerIdentity): void {
  ctx.consumer = id;
  const flat = identityHeaders(id);
  let h = ctx.upstreamHeaders;
  // Common case: nothing set yet, so nothing can be stale.
  if (h === undefined) h = ctx.upstreamHeaders = {};
  else for (const n of NAMES) delete h[n];
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
}
