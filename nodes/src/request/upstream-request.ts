/**
 * The gateway's own headers on every upstream call a request makes: the proxied request
 * (pipeline/forward.ts), the cache's fetch and revalidation and the mirror's copy. One
 * builder, so the three cannot drift: the routed authority as Host when the upstream
 * preserves it (else the target's), X-Forwarded-For/Proto/Host through trusted proxies only
 * (http/client-ip.ts), the request id and a traceparent for this hop.
 */
import { pushForwarded } from '../http/client-ip.ts';
import { traceparent } from '../http/ids.ts';
import type { RequestContext } from './context.ts';

/**
 * Push the gateway's headers onto `h` (flat name/value pairs). `targetHost` is the Host for a
 * non-preserving upstream; undefined when the client adds it per target (the h1 pool does).
 * `tp` is this hop's traceparent when tracing made one (the try's client span).
 */
export function pushGatewayHeaders(h: string[], ctx: RequestContext, preserveHost: boolean, targetHost: string | undefined, tp?: string): void {
  const req = ctx.req;
  const host = ctx.authority || ctx.host; // what was routed (RFC 9112 §3.2.2), never a second Host
  if (preserveHost) h.push('host', host);
  else if (targetHost !== undefined) h.push('host', targetHost);
  pushForwarded(h, req, ctx.trusted, host);
  h.push('x-request-id', ctx.id, 'traceparent', tp ?? traceparent(req.headers.traceparent, ctx.ownId ? ctx.id : undefined));
}
