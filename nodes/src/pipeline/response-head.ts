/**
 * The one assembler of a response head, for an upstream's response (proxy.ts) and the
 * gateway's own reply (reply.ts: errors, policy denials, cache hits, preflights) alike, so
 * both carry the same gateway headers in the same order. Each step is applied over the
 * one before (docs/architecture.md, "One response head"):
 *
 *  1. the base: the upstream's headers without hop-by-hop ones, those its Connection names
 *     and its X-Request-Id (http/headers.ts forwardableResponseHeaders, done by the caller
 *     as the pool hands them over), or the local reply's own headers as its policy gave them;
 *  2. the route's constant headers (RateLimit-Policy, ...), replacing same-named base ones;
 *  3. the headers policies set for this request (ctx.responseHeaders: RateLimit, X-Cache),
 *     replacing same-named ones again;
 *  4. response hooks, in reverse phase order (onion): they see the head of steps 1-3 and
 *     may edit it and the status;
 *  5. the gateway's own: X-Request-Id, then `Connection: close` while the node drains.
 *     Last, so no hook can remove or forge them.
 *
 * The fields go on the wire in that order. Without response hooks the head stays the flat
 * [name, value, ...] list it came as (no object per request: the proxied path is hot);
 * with hooks it becomes one object, built once from the flat list.
 */
import type { RequestContext } from '../request/context.ts';
import type { ResponseHead } from '../request/policy.ts';
import { flatToObject, withGatewayHeaders } from '../http/headers.ts';
import type { Runtime } from './runtime.ts';

export type HeadFields = string[] | Record<string, string | string[]>;

/**
 * The head to write for `status` over `base` (flat, owned by the caller: it is compacted in
 * place). Sets `ctx.status` to the final status (a hook may change it) and returns the fields.
 */
export function assembleHead(rt: Runtime, ctx: RequestContext, status: number, base: string[], local: boolean, translated = false): HeadFields {
  const route = ctx.route;
  const fixed = route === undefined ? NONE : route.fixedHeaders;
  const dynamic = ctx.responseHeaders;
  let flat = base;
  if (fixed.length !== 0 || dynamic !== undefined) flat = withGatewayHeaders(base, fixed, dynamic);
  if (route === undefined || route.response.length === 0) {
    flat.push('x-request-id', ctx.id);
    // A local reply may close already (validate's 413); an upstream's Connection was dropped.
    if (rt.draining && !(local && has(flat, 'connection'))) flat.push('connection', 'close');
    ctx.status = status;
    return flat;
  }
  const headers = flatToObject(flat);
  const head: ResponseHead = translated ? { status, headers, local, translated } : { status, headers, local };
  for (const h of route.response) h(ctx, head);
  // The base never has one; a hook's is removed so the gateway's stays last, as in the flat form.
  if (headers['x-request-id'] !== undefined) delete headers['x-request-id'];
  headers['x-request-id'] = ctx.id;
  if (rt.draining) headers.connection = 'close';
  ctx.status = head.status;
  return headers;
}

/** Set a field the framing decides (Content-Length) on either form of the head. */
export function setField(fields: HeadFields, name: string, value: string): void {
  if (Array.isArray(fields)) fields.push(name, value);
  else fields[name] = value;
}

function has(flat: readonly string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}

const NONE: readonly string[] = Object.freeze([]);
