/** The path (and query) a request is sent upstream with: route rewrite or strip prefix, then the raw query. */
import type { RequestContext } from './context.ts';

export function upstreamPath(ctx: RequestContext): string {
  const route = ctx.route!;
  let path = route.rewrite ? route.rewrite(ctx.params) : ctx.path;
  const strip = route.stripPrefix;
  // Strip only at a segment boundary: /users strips /users/1 and /users, never /usersX.
  if (strip !== undefined && !route.rewrite && path.startsWith(strip) && (path.length === strip.length || path.charCodeAt(strip.length) === 47)) {
    path = path.length === strip.length ? '/' : path.slice(strip.length);
  }
  return ctx.rawQuery ? path + '?' + ctx.rawQuery : path;
}
