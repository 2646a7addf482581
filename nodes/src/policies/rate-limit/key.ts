/**
 * Rate-limit keys, compiled once from `by`. The common one-part keys cost no string work:
 * the consumer name, the client IP or the header value is the key itself.
 *
 * A missing part never shares one bucket (architecture: "a rate-limit key error putting
 * everyone in one bucket"): no consumer (or the anonymous one), or no/empty header, falls
 * back to the client IP, marked with a leading CR. Parts of a list are joined with LF.
 * Neither CR nor LF can occur in a header value, a consumer name, an IP or a route name,
 * so keys of different kinds or part counts never collide. Keys longer than MAX_KEY are
 * replaced by their SHA-256, so a client cannot make the table hold big strings.
 */
import { hash } from 'node:crypto';
import type { RequestContext } from '../../request/context.ts';

export type KeyFn = (ctx: RequestContext) => string;
type PartFn = (ctx: RequestContext) => string;

export const MAX_KEY = 256;

function ipFallback(ctx: RequestContext): string { return '\r' + ctx.clientIp; }

function part(spec: string, route: string): PartFn {
  if (spec === 'ip') return (ctx) => ctx.clientIp;
  if (spec === 'route') return () => route;
  if (spec === 'consumer') {
    // The `anonymous` consumer of the auth policies is "no credential": one bucket per
    // client, or any one anonymous client could use up the quota of all of them.
    return (ctx) => { const c = ctx.consumer; return c !== undefined && c.method !== 'anonymous' ? c.name : ipFallback(ctx); };
  }
  if (spec.startsWith('header:')) {
    const name = spec.slice('header:'.length).toLowerCase();
    return (ctx) => {
      const v = ctx.req.headers[name];
      const s = typeof v === 'string' ? v : v?.[0];
      return s ? s : ipFallback(ctx);
    };
  }
  throw new Error(`rate-limit: unknown key part "${spec}"`);
}

function bounded(k: string): string {
  return k.length > MAX_KEY ? '\n#' + hash('sha256', k, 'base64') : k;
}

export function compileKey(by: string | readonly string[], route: string): KeyFn {
  const specs = typeof by === 'string' ? [by] : by;
  const parts = specs.map((s) => part(s, route));
  if (parts.length === 1) {
    const only = parts[0]!;
    // ip and route keys are bounded already (an IP, a ≤128-char route name)
    if (specs[0] === 'ip' || specs[0] === 'route') return only;
    return (ctx) => bounded(only(ctx));
  }
  return (ctx) => {
    let k = parts[0]!(ctx);
    for (let i = 1; i < parts.length; i++) k += '\n' + parts[i]!(ctx);
    return bounded(k);
  };
}
