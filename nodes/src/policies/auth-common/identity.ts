/**
 * The one place that turns an authentication result into identity: ctx.consumer for later
 * policies (acl, rate-limit by consumer) and the identity headers the upstream trusts.
 * Clients can never send these headers themselves: http/headers.ts strips every
 * X-Consumer-* and X-Authenticated-* header from the client request, and the gateway's
 * own headers are added after Connection-named headers are dropped (RFC 9110 §7.6.1).
 */
import type { ConsumerIdentity, RequestContext } from '../../pipeline/context.ts';

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
  // toWellFormed: a lone surrogate (legal in JSON strings) would make encodeURIComponent throw.
  return PLAIN.test(v) ? v : encodeURIComponent(v.toWellFormed()).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The identity headers of a configured consumer, computed once (key-auth, basic-auth identities are static). */
const prepared = new WeakMap<ConsumerIdentity, readonly string[]>();

function identityHeaders(id: ConsumerIdentity): readonly string[] {
  const flat: string[] = [H_NAME, headerValue(id.name)];
  if (id.groups.length) flat.push(H_GROUPS, headerValue(id.groups.join(',')));
  if (id.method === 'anonymous') flat.push(H_ANONYMOUS, 'true');
  if (id.subject !== undefined) flat.push(H_SUBJECT, headerValue(id.subject));
  if (id.scopes?.length) flat.push(H_SCOPES, headerValue(id.scopes.join(' ')));
  return flat;
}

/** Set ctx.consumer and the identity headers; headers for unknown facts are removed, never left stale. */
export function setIdentity(ctx: RequestContext, id: ConsumerIdentity): void {
  ctx.consumer = id;
  if (ctx.upstreamHeaders === undefined) {
    // Common case: nothing set yet, so nothing can be stale. Static identities reuse their headers.
    let flat = id.claims === undefined ? prepared.get(id) : undefined;
    if (flat === undefined) {
      flat = identityHeaders(id);
      if (id.claims === undefined) prepared.set(id, flat);
    }
    const o: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
    ctx.upstreamHeaders = o;
    return;
  }
  const h = ctx.upstreamHeaders;
  h[H_NAME] = headerValue(id.name);
  if (id.groups.length) h[H_GROUPS] = headerValue(id.groups.join(','));
  else delete h[H_GROUPS];
  if (id.method === 'anonymous') h[H_ANONYMOUS] = 'true';
  else delete h[H_ANONYMOUS];
  if (id.subject !== undefined) h[H_SUBJECT] = headerValue(id.subject);
  else delete h[H_SUBJECT];
  if (id.scopes?.length) h[H_SCOPES] = headerValue(id.scopes.join(' '));
  else delete h[H_SCOPES];
}
