/**
 * The cache key (docs/policies/cache.md "Cache key"). The primary key is the URL as the
 * policies left it: `[https://]host[:port] + path [+ '?' + query]`, where host[:port] is the request's
 * normalised authority (lower-case, port kept unless it is the default 80: a Host with
 * another port is another key, so a port an upstream reflects into a page cannot poison
 * the entry others get) and path the gateway's normalised path (after a request-transform path
 * template, before the route's rewrite/stripPrefix). GET and HEAD share it: a HEAD is
 * answered from the stored GET. It is one string concatenation per request.
 *
 * Query: `true` (default) keeps the raw query as received, so `?a=1&b=2` and `?b=2&a=1` are
 * two keys (sorting would cost a parse per request and can change the meaning of repeated
 * parameters); `false` ignores it; a list keeps only those parameters, in the list's order.
 *
 * Configured key headers (and the consumer) are not part of this string: they select among
 * the variants stored under it, like Vary does, so a purge by key removes them all.
 */
import type { RequestContext } from '../../request/context.ts';
import { forwardedProto } from '../../http/client-ip.ts';
import { HTTPS } from './store.ts';

export interface KeyConfig {
  headers?: string[];
  query?: boolean | string[];
  consumer?: boolean;
}

export interface CompiledKey {
  /** The primary key of a request. */
  key(ctx: RequestContext): string;
  /** Values of the configured key headers and consumer; undefined when none are configured. */
  values(ctx: RequestContext): string[] | undefined;
  /** A text describing these settings: part of the partition, so entries stored under other settings never match. */
  readonly signature: string;
}

/**
 * The request's scheme and normalised authority without the scheme's default port
 * (pipeline/handler.ts validated it). The scheme is the one the upstream is told
 * (X-Forwarded-Proto: this listener's, or a trusted proxy's): an upstream that builds links
 * from it answers differently per scheme, so HTTPS requests key under `https://`; plain HTTP
 * keeps the scheme-less form.
 */
function origin(ctx: RequestContext): string {
  const a = ctx.authority || ctx.host;
  if (forwardedProto(ctx.req, ctx.trusted) === 'https') return HTTPS + (a.endsWith(':443') ? a.slice(0, -4) : a);
  return a.endsWith(':80') ? a.slice(0, -3) : a;
}

export function compileKey(c: KeyConfig | undefined): CompiledKey {
  const headers = (c?.headers ?? []).map((h) => h.toLowerCase());
  const consumer = c?.consumer === true;
  const q = c?.query ?? true;
  let key: (ctx: RequestContext) => string;
  if (q === true) key = (ctx) => (ctx.rawQuery === '' ? origin(ctx) + ctx.path : origin(ctx) + ctx.path + '?' + ctx.rawQuery);
  else if (q === false) key = (ctx) => origin(ctx) + ctx.path;
  else {
    const names = [...q];
    key = (ctx) => {
      if (ctx.rawQuery === '') return origin(ctx) + ctx.path;
      const sp = ctx.searchParams;
      const kept = new URLSearchParams();
      for (const n of names) for (const v of sp.getAll(n)) kept.append(n, v);
      const s = kept.toString();
      return s === '' ? origin(ctx) + ctx.path : origin(ctx) + ctx.path + '?' + s;
    };
  }
  const values = headers.length === 0 && !consumer ? () => undefined : (ctx: RequestContext) => {
    const out: string[] = [];
    for (const h of headers) {
      const v = ctx.req.headers[h];
      out.push(v === undefined ? '' : typeof v === 'string' ? v : v.join(', '));
    }
    if (consumer) out.push(ctx.consumer?.name ?? '');
    return out;
  };
  const signature = `headers=${headers.join(',')};query=${Array.isArray(q) ? q.join(',') : String(q)};consumer=${consumer}`;
  return { key, values, signature };
}
